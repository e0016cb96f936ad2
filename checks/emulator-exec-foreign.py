# generated from labs/emulator-exec-foreign.toml by `cargo xtask lab render`; do not edit
# The testScript of checks/emulator-exec-foreign.nix: the probes of `cargo xtask lab show emulator-exec-foreign`,
# run in the VM as the host backend runs them. checks/emulator-exec-foreign.nix puts a
# JSON prelude and modules/crosslab_probe.py (run_probe, check_outcome)
# before this file.

start_all()
machine.wait_for_unit("multi-user.target")

with subtest("binfmt_misc is mounted"):
    machine.succeed("mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc")

with subtest("command[0]@aarch64-linux: qemu called directly, no binfmt entry: the foreign program starts a foreign child"):
    status, output, seconds = run_probe(
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
        "command[0]@aarch64-linux",
        status,
        output,
        seconds,
        passes=False,
        contains=["Exec format error"],
        line=None,
    )

with subtest("command[1]@aarch64-linux: registered with F, qemu called directly: the foreign program starts a foreign child"):
    status, output, seconds = run_probe(
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
        "command[1]@aarch64-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=["aarch64"],
        line=None,
    )

finish()
