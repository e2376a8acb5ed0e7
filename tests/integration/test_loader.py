"""ebcap's own loader on the real kernel: maps and programs made with bpf(2), per-CPU values,
and every kind of refusal as one line (capture/kernel/bpfsys.py, capture/kernel/loader.py)."""

from __future__ import annotations

import errno
import struct
import time

import pytest

from ebcap.capture.kernel import bpfsys

pytestmark = pytest.mark.kernel


def test_per_cpu_hash_round_trip():
    spec = bpfsys.MapSpec("ebcap_test", bpfsys.BPF_MAP_TYPE_PERCPU_HASH, 4, 12, 8)
    table = bpfsys.BpfMap(bpfsys.map_create(spec), spec)
    try:
        assert bpfsys.map_info(table.fd, "ebcap_test") == spec
        cpus = bpfsys.possible_cpus()
        values = [struct.pack("<IQ", cpu, 10 ** cpu) for cpu in range(cpus)]
        table.update(struct.pack("<I", 7), values)
        table.update(struct.pack("<I", 9), [bytes(12)] * cpus)
        assert table.lookup(struct.pack("<I", 7)) == values
        assert table.lookup(struct.pack("<I", 8)) is None
        assert sorted(table.keys()) == [struct.pack("<I", 7), struct.pack("<I", 9)]
    finally:
        table.close()


def test_verifier_refusal_comes_with_its_log(monkeypatch):
    """A load from the context beyond struct __sk_buff: refused, and the retry with a log
    (grown from a deliberately tiny first buffer) says why."""
    monkeypatch.setattr(bpfsys, "VERIFIER_LOG_BYTES", 16)
    code = (struct.pack("<BBhi", 0x79, 0x10, 4000, 0)            # r0 = *(u64 *)(r1 + 4000)
            + struct.pack("<BBhi", 0x95, 0, 0, 0))                # exit
    with pytest.raises(bpfsys.ProgramRefused) as refused:
        bpfsys.prog_load(code, "ebcap_bad")
    assert refused.value.errno == errno.EACCES
    assert "invalid bpf_context access" in refused.value.log
    assert "processed" in refused.value.log


@pytest.fixture(scope="module")
def kernel_program():
    from ebcap.capture.kernel.program import load_program
    from ebcap.capture.kernel.source import ProgramSpec
    from ebcap.capture.filter.libpcap import compile_filter
    program = load_program(compile_filter("tcp", 1), ProgramSpec())
    yield program
    program.close()


@pytest.mark.parametrize("err, log, error, message", [
    (errno.EPERM, "", "PrivilegeError", "loading BPF programs needs root"),
    (errno.EACCES, "", "PrivilegeError", "loading BPF programs needs root"),
    (errno.E2BIG, "BPF program is too large. Processed 1000001 insn\n"
                  "processed 1000001 insns (limit 1000000) max_states_per_insn 4\n",
     "TranslateError", "the filter is too complex for the kernel's BPF verifier: "
                       "BPF program is too large. Processed 1000001 insn"),
    (errno.EINVAL, "The sequence of 8193 jumps is too complex.\nprocessed 9 insns\n",
     "TranslateError", "verifier: The sequence of 8193 jumps is too complex."),
    (errno.EACCES, "0: (79) r0 = *(u64 *)(r1 +4000)\ninvalid bpf_context access off=4000\n"
                   "processed 1 insns (limit 1000000)\n",
     "KernelFeatureError", "the kernel refused the BPF program: invalid bpf_context access "
                           "off=4000"),
    (errno.EINVAL, "", "KernelFeatureError", "the kernel refused the BPF program: Invalid "
                                             "argument"),
])
def test_refusals_become_one_line_errors(kernel_program, monkeypatch, err, log, error, message):
    from ebcap.capture import errors
    from ebcap.capture.kernel import loader
    from ebcap.capture.kernel.source import EGRESS

    def refuse(insns, name, *_prog_type, **_attach):
        raise bpfsys.ProgramRefused(err, log)

    monkeypatch.setattr(loader, "prog_load", refuse)
    kernel_program.loaded._fds.pop(EGRESS, None)
    with pytest.raises(getattr(errors, error)) as raised:
        kernel_program.loaded.program_fd(EGRESS)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_program_loads_and_counts(kernel_program):
    from ebcap.capture.kernel.source import INGRESS
    fd = kernel_program.loaded.program_fd(INGRESS)
    assert kernel_program.loaded.program_fd(INGRESS) == fd
    kernel_program.maps.register_interface(42, 3)
    kernel_program.maps.register_interface(43, 0)
    kernel_program.maps.set_wall_clock(-5)
    assert kernel_program.maps.counters() == {42: (0, 0), 43: (0, 0)}
    runner = bpfsys.TestRunner(fd)
    frame = bytes(12) + b"\x08\x00" + bytes(50)         # not TCP: refused, and not counted
    assert runner.run(frame, len(frame)) == -1                  # TC_ACT_UNSPEC
    assert kernel_program.maps.counters() == {42: (0, 0), 43: (0, 0)}
    tcp = bytes(12) + b"\x08\x00" + b"\x45" + bytes(8) + b"\x06" + bytes(40)  # IPv4, protocol 6
    assert runner.run(tcp, len(tcp)) == -1
    # counted when its block goes into the ring (bpf/ebcap.c's flush_stage): by the flush
    # timer, 2 ms after it was staged
    deadline = time.monotonic() + 1.0
    while True:
        (counts,) = [c for i, c in kernel_program.maps.counters().items() if i not in (42, 43)]
        if counts != (0, 0) or time.monotonic() > deadline:
            break
        time.sleep(0.001)
    assert counts == (1, 0)                                     # accepted, none lost
