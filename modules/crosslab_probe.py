# crosslab's probe runner for the NixOS tests in checks/: every
# checks/<lab>.nix builds its testScript as a JSON prelude (defining
# `crosslab_node`), then this file, then checks/<lab>.py. `machine` is the
# nixosTest driver's. Hand-written; `cargo xtask test` lints it with each
# lab's script, with pyflakes and mypy, as nixosTest does.
import shlex

payloads_dir: str = crosslab_node["payloads_dir"]
toolchains_dir: str = crosslab_node.get("toolchains_dir", "")
# Only labs with a compile probe have toolchains.
toolchains_env = f"CROSSLAB_TOOLCHAINS={shlex.quote(toolchains_dir)} " if toolchains_dir else ""


def run_probe(command: str, timeout: int) -> tuple[int, str]:
    """Runs a probe's command as the host backend does: under /bin/sh -c with
    CROSSLAB_PAYLOADS set, stderr merged into the output the probe is judged on."""
    return machine.execute(
        f"CROSSLAB_PAYLOADS={shlex.quote(payloads_dir)} {toolchains_env}"
        f"/bin/sh -c {shlex.quote(command)} 2>&1",
        timeout=timeout,
    )


def check_outcome(
    status: int, output: str, passes: bool, contains: list[str], line: str | None
) -> None:
    """Raises, showing the probe's status and output, unless the expectation is met."""
    shown = f"exit status {status}; output:\n{output}"
    if passes and status != 0:
        raise AssertionError(f"expected the command to succeed, {shown}")
    if not passes and status == 0:
        raise AssertionError(f"expected the command to fail, {shown}")
    for text in contains:
        if text not in output:
            raise AssertionError(f"expected the output to contain {text!r}, {shown}")
    if line is not None and line not in [o.rstrip() for o in output.split("\n")]:
        raise AssertionError(f"expected the output to have the line {line!r}, {shown}")
