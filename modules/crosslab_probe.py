# crosslab's probe runner for the NixOS tests in checks/: every
# checks/<lab>.nix builds its testScript as a JSON prelude (defining
# `crosslab_node`), then this file, then checks/<lab>.py. `machine` is the
# nixosTest driver's. Hand-written; `cargo xtask test` lints it with each
# lab's script, with pyflakes and mypy, as nixosTest does.
#
# Every probe's result goes into the driver's log as one line,
# `machine: crosslab-probe {json}` (Machine.log), which `cargo xtask lab run
# --backend nixos` reads back into the same verdicts as the other backends.
import json
import os
import shlex
import time

payloads_dir: str = crosslab_node["payloads_dir"]
toolchains_dir: str = crosslab_node.get("toolchains_dir", "")
# Only labs with a compile probe have toolchains.
toolchains_env = f"CROSSLAB_TOOLCHAINS={shlex.quote(toolchains_dir)} " if toolchains_dir else ""

# What a result line is marked with; xtask/src/run/nixos.rs looks for it.
RESULT_MARK = "crosslab-probe "
# The exit status of coreutils' `timeout`, which Machine.execute wraps a
# command in when it has a timeout; xtask/src/run/nixos.rs reads it the same way.
TIMED_OUT = 124
# The end of a probe's output kept in its result line.
OUTPUT_KEPT = 16000

# Without a usable /dev/kvm in the build's sandbox the driver's qemu runs the
# guest under TCG, several times slower (nixos/lib/qemu-common.nix starts an
# x86_64 guest with `qemu-kvm`, which QEMU runs with accel kvm:tcg); every
# probe then gets its timeout times the check's `tcg_slowdown` (its global
# timeout already allows for it).
kvm = os.access("/dev/kvm", os.R_OK | os.W_OK)
timeout_scale: int = 1 if kvm else int(crosslab_node.get("tcg_slowdown", 1))
if not kvm:
    machine.log(f"crosslab: no usable /dev/kvm, the guest runs under TCG: probe timeouts x{timeout_scale}")

unexpected: list[str] = []


def run_probe(command: str, timeout: int) -> tuple[int, str, float]:
    """Runs a probe's command as the host backend does: under /bin/sh -c with
    CROSSLAB_PAYLOADS set, stderr merged into the output the probe is judged
    on. Returns the exit status, the output and the seconds it took."""
    start = time.monotonic()
    status, output = machine.execute(
        f"CROSSLAB_PAYLOADS={shlex.quote(payloads_dir)} {toolchains_env}"
        f"/bin/sh -c {shlex.quote(command)} 2>&1",
        timeout=timeout * timeout_scale,
    )
    return status, output, time.monotonic() - start


def check_outcome(
    probe: str,
    status: int,
    output: str,
    seconds: float,
    passes: bool,
    contains: list[str],
    line: str | None,
) -> None:
    """Logs the probe's result line, and records it unless the expectation is
    met: every probe runs, and `finish()` fails the test if any was not as
    expected."""
    result = {"id": probe, "status": status, "duration_ms": round(seconds * 1000), "output": output[-OUTPUT_KEPT:]}
    machine.log(RESULT_MARK + json.dumps(result))
    shown = f"exit status {status}; output:\n{output}"
    problems = []
    # The driver's `timeout` exits 124 (as `lab run --backend nixos` reads
    # it): a probe that ran out of time is never as expected, whatever the
    # spec expects, as xtask/src/outcome.rs `judge` says.
    if status == TIMED_OUT:
        problems.append(f"timed out, {shown}")
    if passes and status != 0:
        problems.append(f"expected the command to succeed, {shown}")
    if not passes and status == 0:
        problems.append(f"expected the command to fail, {shown}")
    for text in contains:
        if text not in output:
            problems.append(f"expected the output to contain {text!r}, {shown}")
    if line is not None and line not in [o.rstrip() for o in output.split("\n")]:
        problems.append(f"expected the output to have the line {line!r}, {shown}")
    if problems:
        unexpected.append(f"{probe}: {problems[0]}")


def finish() -> None:
    """Fails the test, naming every probe that was not as expected."""
    if unexpected:
        raise AssertionError("\n".join([f"{len(unexpected)} probe(s) not as expected:"] + unexpected))
