# generated from labs/emulator-exec-foreign.toml by `cargo xtask lab render`; do not edit
# The testScript of checks/emulator-exec-foreign.nix: the probes of `cargo xtask lab show emulator-exec-foreign`,
# run in the VM as the host backend runs them. checks/emulator-exec-foreign.nix puts a
# JSON prelude before this file that defines `crosslab_node`.
import shlex

payloads_dir: str = crosslab_node["payloads_dir"]


def run_probe(command: str, timeout: int) -> tuple[int, str]:
    """Runs a probe's command as the host backend does: under /bin/sh -c with
    CROSSLAB_PAYLOADS set, stderr merged into the output the probe is judged on."""
    return machine.execute(
        f"CROSSLAB_PAYLOADS={shlex.quote(payloads_dir)} /bin/sh -c {shlex.quote(command)} 2>&1",
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


start_all()
machine.wait_for_unit("multi-user.target")

with subtest("binfmt_misc is mounted"):
    machine.succeed("mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc")

with subtest("command[0]@aarch64-linux: qemu called directly, no binfmt entry: the foreign program starts a foreign child"):
    status, output = run_probe(
        "\n".join(
            [
                "export CROSSLAB_SYSTEM=aarch64-linux",
                "# qemu called directly, no binfmt entry: the foreign program starts a foreign child",
                "b=\"$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM/busybox\"",
                "/usr/bin/qemu-aarch64-static \"$b\" sh -c \"'$b' uname -m\"",
                "",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        status,
        output,
        passes=False,
        contains=["Exec format error"],
        line=None,
    )

with subtest("command[1]@aarch64-linux: registered with F, qemu called directly: the foreign program starts a foreign child"):
    status, output = run_probe(
        "\n".join(
            [
                "export CROSSLAB_SYSTEM=aarch64-linux",
                "# registered with F, qemu called directly: the foreign program starts a foreign child",
                "printf '%s' ':qemu-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-aarch64-static:F' > /proc/sys/fs/binfmt_misc/register",
                "b=\"$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM/busybox\"",
                "/usr/bin/qemu-aarch64-static \"$b\" sh -c \"'$b' uname -m\"",
                "",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        status,
        output,
        passes=True,
        contains=["aarch64"],
        line=None,
    )
