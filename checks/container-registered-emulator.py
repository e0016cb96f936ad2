# generated from labs/container-registered-emulator.toml by `cargo xtask lab render`; do not edit
# The testScript of checks/container-registered-emulator.nix: the probes of `cargo xtask lab show container-registered-emulator`,
# run in the VM as the host backend runs them. checks/container-registered-emulator.nix puts a
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

with subtest("command[0]@aarch64-linux: registered with F from a container's /usr/bin, then the container is gone"):
    status, output = run_probe(
        "\n".join(
            [
                "export CROSSLAB_SYSTEM=aarch64-linux",
                "# registered with F from a container's /usr/bin, then the container is gone",
                "mkdir -p /tmp/container/usr/bin",
                "cp /usr/bin/qemu-aarch64-static /tmp/container/usr/bin/qemu-aarch64",
                "printf '%s' ':qemu-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xfe\\xff\\xff\\xff:/tmp/container/usr/bin/qemu-aarch64:POCF' > /proc/sys/fs/binfmt_misc/register",
                "rm -r /tmp/container",
                "\"$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM/busybox\" uname -m",
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

with subtest("build[1]@aarch64-linux: sandboxed nix-build of a aarch64-linux derivation"):
    status, output = run_probe(
        "\n".join(
            [
                "payload=$(readlink -f \"$CROSSLAB_PAYLOADS\"/aarch64-linux)",
                "out=$(nix-build --no-out-link --argstr name crosslab-probe1-aarch64-linux --argstr system aarch64-linux \\",
                "  --argstr payload \"$payload\" --argstr qemuCpu '' \\",
                "  --expr '{ name, system, payload, qemuCpu ? \"\" }:",
                "let",
                "  dir = if builtins.substring 0 11 payload == \"/nix/store/\"",
                "    then builtins.storePath payload",
                "    else builtins.path { path = /. + payload; name = \"crosslab-payload\"; };",
                "in derivation ({",
                "  inherit name system;",
                "  builder = \"${dir}/sh\";",
                "  args = [ \"-c\" \"${dir}/busybox uname -m > $out\" ];",
                "} // (if qemuCpu == \"\" then { } else { QEMU_CPU = qemuCpu; }))') || exit 1",
                "cat \"$out\"",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        status,
        output,
        passes=True,
        contains=[],
        line="aarch64",
    )

with subtest("command[2]@aarch64-linux: registered without F from a container's /usr/bin, then the container is gone"):
    status, output = run_probe(
        "\n".join(
            [
                "export CROSSLAB_SYSTEM=aarch64-linux",
                "# registered without F from a container's /usr/bin, then the container is gone",
                "echo -1 > /proc/sys/fs/binfmt_misc/qemu-aarch64",
                "mkdir -p /tmp/container/usr/bin",
                "cp /usr/bin/qemu-aarch64-static /tmp/container/usr/bin/qemu-aarch64-static",
                "printf '%s' ':qemu-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xfe\\xff\\xff\\xff:/tmp/container/usr/bin/qemu-aarch64-static:' > /proc/sys/fs/binfmt_misc/register",
                "rm -r /tmp/container",
                "# env says what execve said (the shell would only say \"not found\")",
                "env \"$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM/busybox\" uname -m",
                "",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        status,
        output,
        passes=False,
        contains=["No such file or directory"],
        line=None,
    )
