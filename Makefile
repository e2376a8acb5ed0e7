# The README's two commands: `make demo` and `make test`. Each sets everything up from nothing.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup demo test clean

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py capture/kernel/_ringdrain.c capture/kernel/_testrun.c scripts/setup-host
	scripts/setup-host
	test -x $(PY) || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,bench]'
	$(PY) -I -m ebcap.capture.cli.script $(VENV)/bin/ebcap   # over pip's: python -S, site when needed (~8 ms a start)
	$(PY) -m compileall -q capture dissectors bpf   # .pyc now: PYTHONDONTWRITEBYTECODE=1 writes none (+65 ms CPU a start)
	$(VENV)/bin/ebcap --doctor >/dev/null   # builds the private kernel-headers tree for BCC once
	touch $@

demo: setup
	$(PY) -I -m ebcap.capture.bench.demo

test: setup
	$(PY) -m pytest -q -ra tests

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info demo.pcapng
