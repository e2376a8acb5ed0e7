"""The extcap's answers to Wireshark, its argument handling and its installer (no capture here)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from ebcap.capture import __version__
from ebcap.capture.cli.main import run
from ebcap.capture.extcap import install, protocol, supervise
from ebcap.capture.extcap.command import build_parser
from tests.helpers.paths import EBCAP
from ebcap.capture.config import DIRECTIONS
from ebcap.capture.errors import FilterError, InterfaceError
from ebcap.capture.filter.libpcap import compile_filter

# One {key=value} field; Wireshark's parser splits on braces, so values may not contain them.
FIELD = r"\{[a-z]+=[^{}\n]*\}"
SENTENCE = re.compile(rf"^(extcap|interface|dlt|arg|value) ((?:{FIELD})+)$")


def fields(line: str) -> tuple[str, dict[str, str]]:
    match = SENTENCE.match(line)
    assert match, f"not an extcap sentence: {line!r}"
    pairs = re.findall(r"\{([a-z]+)=([^{}]*)\}", match.group(2))
    return match.group(1), dict(pairs)


def run_main(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    status = run(["extcap", *argv])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err.splitlines()


def test_interfaces_lines_parse(capsys):
    status, lines, err = run_main(capsys, "--extcap-interfaces", "--extcap-version=4.0")
    assert status == 0 and err == []
    kind, version = fields(lines[0])
    assert kind == "extcap" and version["version"] == __version__
    assert version["help"].startswith("file://") and version["help"].endswith("/docs/extcap.md")
    names = []
    for line in lines[1:]:
        kind, f = fields(line)
        assert kind == "interface" and f["value"].startswith("ebcap-")
        name = f["value"].removeprefix("ebcap-")
        assert f["display"] == f"ebcap: {name} (eBPF, filter in kernel)"
        names.append(name)
    assert "lo" in names
    assert set(names) <= {name for _, name in socket.if_nameindex()}


def test_version_alone(capsys):
    assert run_main(capsys, "--extcap-version") == (0, [protocol.version_line()], [])


def test_dlts(capsys, monkeypatch):
    status, lines, _ = run_main(capsys, "--extcap-interface", "ebcap-lo", "--extcap-dlts")
    assert status == 0 and lines == ["dlt {number=1}{name=EN10MB}{display=Ethernet}"]
    monkeypatch.setattr("ebcap.capture.net.interfaces.linktype", lambda name: 101)     # a tun device
    assert protocol.dlt_lines("ebcap-tun0") == ["dlt {number=101}{name=RAW}{display=Raw IP}"]


def test_config_lines_are_well_formed(capsys):
    status, lines, err = run_main(capsys, "--extcap-interface", "ebcap-lo", "--extcap-config")
    assert status == 0 and err == []
    args, values = {}, []
    for line in lines:
        kind, f = fields(line)
        if kind == "arg":
            args[int(f["number"])] = f
        else:
            assert kind == "value"
            values.append(f)
    assert sorted(args) == list(range(len(args)))
    assert {f["call"] for f in args.values()} == {
        "--snaplen", "--direction", "--promiscuous", "--buffer-kib"}
    for f in args.values():
        assert f["type"] in {"integer", "unsigned", "selector", "boolean"}
        assert f["display"] and f["tooltip"]
        if f["type"] in {"integer", "unsigned"}:
            low, high = map(int, f["range"].split(","))
            assert low <= int(f["default"]) <= high
    direction = next(n for n, f in args.items() if f["call"] == "--direction")
    assert all(int(v["arg"]) == direction for v in values)
    assert {v["value"] for v in values} == set(DIRECTIONS)
    assert [v["value"] for v in values if v["default"] == "true"] == ["inout"]
    # every default, given back the way Wireshark passes it, parses
    for f in args.values():
        if "default" in f:
            build_parser().parse_args([f["call"], f["default"]])


def test_reload_option_answers_values_only(capsys):
    status, lines, _ = run_main(capsys, "--extcap-interface", "ebcap-lo", "--extcap-config",
                                "--extcap-reload-option", "direction")
    assert status == 0 and lines and all(line.startswith("value {arg=1}") for line in lines)
    assert protocol.config_lines("snaplen") == []


@pytest.mark.parametrize("expression", ["tcp port 443", "", "icmp or udp"])
def test_filter_validation_accepts(capsys, expression):
    assert run_main(capsys, "--extcap-interface", "ebcap-lo",
                    "--extcap-capture-filter", expression) == (0, [], [])


def test_filter_validation_rejects_with_libpcaps_message(capsys):
    with pytest.raises(FilterError) as libpcap:
        compile_filter("tcp port", 1)
    # Wireshark's protocol: the message on stdout, exit 0 (non-zero means "could not check")
    status, lines, err = run_main(capsys, "--extcap-interface", "ebcap-lo",
                                  "--extcap-capture-filter", "tcp port")
    assert (status, lines, err) == (0, [str(libpcap.value)], [])
    assert "syntax error" in lines[0]


@pytest.mark.parametrize("argv, message", [
    (["--bogus"], "unrecognized arguments: --bogus"),
    ([], "--extcap-interface is required"),
    (["--extcap-interface", "lo", "--extcap-dlts"], "lo: not an ebcap interface"),
    (["--extcap-interface", "ebcap-", "--extcap-dlts"], "not an ebcap interface"),
    (["--extcap-interface", "ebcap-nosuchif0", "--extcap-dlts"], "nosuchif0: No such device"),
    (["--extcap-interface", "ebcap-lo", "--capture"], "--capture needs --fifo"),
    (["--extcap-interface", "ebcap-lo"], "nothing to do"),
    (["--extcap-interface", "ebcap-lo", "--capture", "--fifo", "/nonexistent/fifo",
      "--direction", "sideways"], "invalid choice"),
])
def test_errors_are_one_line(capsys, argv, message):
    status, out, err = run_main(capsys, *argv)
    assert status == 1 and out == []
    assert len(err) == 1 and err[0].startswith("ebcap: ") and message in err[0], err


def test_capture_refuses_a_bad_filter_before_opening_the_fifo(capsys, tmp_path):
    status, _, err = run_main(capsys, "--capture", "--extcap-interface", "ebcap-lo", "--fifo",
                              str(tmp_path / "fifo"), "--extcap-capture-filter", "tcp port")
    assert status == 1 and err == ["ebcap: can't parse filter expression: syntax error"]
    assert not (tmp_path / "fifo").exists()


def request(*argv: str) -> supervise.CaptureRequest:
    args = build_parser().parse_args(["--capture", "--extcap-interface", "ebcap-eth1",
                                             "--fifo", "/f", *argv])
    return supervise.CaptureRequest(
        interface=protocol.kernel_name(args.extcap_interface), fifo=args.fifo,
        expression=args.extcap_capture_filter or "", snaplen=args.snaplen,
        direction=args.direction, promiscuous=args.promiscuous, buffer_kib=args.buffer_kib)


def test_ebcap_command_line_for_wiresharks_defaults():
    # what tshark 4.0 passes when the dialog was never opened
    got = request("--extcap-capture-filter", "tcp port 443", "--snaplen", "0",
                  "--promiscuous", "true", "--buffer-kib", "0")
    assert got == supervise.CaptureRequest("eth1", "/f", "tcp port 443")
    assert supervise.ebcap_argv(got) == [str(supervise.ebcap_path()), "-i", "eth1", "-w", "-", "-U",
                                      "-Q", "inout", "--", "tcp port 443"]


def test_ebcap_command_line_for_each_option():
    argv = supervise.ebcap_argv(request("--snaplen", "96", "--direction", "in", "--promiscuous",
                                     "false", "--buffer-kib", "4096"))
    assert argv[1:] == ["-i", "eth1", "-w", "-", "-U", "-Q", "in", "-s", "96", "-p",
                        "-B", "4096"]
    assert request("--promiscuous").promiscuous            # a bare boolean flag is true
    assert not request("--promiscuous", "0").promiscuous


def test_filter_beginning_with_a_dash_stays_the_expression():
    argv = supervise.ebcap_argv(request("--extcap-capture-filter", "-1 < len"))
    assert argv[-2:] == ["--", "-1 < len"]


WIRESHARK_40 = """\
Temp:                	/tmp
Personal configuration:	/home/u/.config/wireshark
Global configuration:	/usr/share/wireshark
Extcap path:         	/usr/lib/x86_64-linux-gnu/wireshark/extcap
MaxMind database path:	/usr/share/GeoIP
MaxMind database path:	/var/lib/GeoIP
"""
WIRESHARK_42 = """\
Personal configuration:	/home/u/.config/wireshark
Personal Extcap path:	/home/u/.local/lib/wireshark/extcap
Global Extcap path:  	/usr/lib/x86_64-linux-gnu/wireshark/extcap
"""


def test_extcap_folders_of_wireshark_40_and_42():
    old, new = install.parse_folders(WIRESHARK_40), install.parse_folders(WIRESHARK_42)
    assert old["MaxMind database path"] == "/usr/share/GeoIP"
    assert install.extcap_folder(old, system=False) == Path("/home/u/.config/wireshark/extcap")
    assert install.extcap_folder(new, system=False) == Path("/home/u/.local/lib/wireshark/extcap")
    for folders in (old, new):
        assert install.extcap_folder(folders, system=True) == Path(
            "/usr/lib/x86_64-linux-gnu/wireshark/extcap")


def test_install_writes_an_executable_wrapper(capsys, tmp_path):
    folder = tmp_path / "extcap"
    status, out, _ = run_main(capsys, "--install", "--dir", str(folder))
    wrapper = folder / "ebcap"
    assert status == 0 and out == [str(wrapper)]
    assert os.access(wrapper, os.X_OK)
    assert f"{EBCAP} extcap" in wrapper.read_text()
    ran = subprocess.run([str(wrapper), "--extcap-interfaces"], capture_output=True, text=True,
                         cwd="/", timeout=60)
    assert ran.returncode == 0 and ran.stderr == ""
    assert ran.stdout.splitlines()[0] == protocol.version_line()
    assert run_main(capsys, "--uninstall", "--dir", str(folder))[0] == 0
    assert not wrapper.exists()


def test_kernel_name():
    assert protocol.kernel_name("ebcap-veth-l") == "veth-l"
    with pytest.raises(InterfaceError):
        protocol.kernel_name("veth-l")
