# generated from labs/nixos-chroot-dynamic-emulator.toml by `cargo xtask lab render`; do not edit
# The testScript of checks/nixos-chroot-dynamic-emulator.nix: the probes of `cargo xtask lab show nixos-chroot-dynamic-emulator`,
# run in the VM as the host backend runs them. checks/nixos-chroot-dynamic-emulator.nix puts a
# JSON prelude and modules/crosslab_probe.py (run_probe, check_outcome)
# before this file.

start_all()
machine.wait_for_unit("multi-user.target")

with subtest("binfmt_misc is mounted"):
    machine.succeed("mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc")

with subtest("binfmt[0]@aarch64-linux: binfmt_misc entry `aarch64-linux` is enabled with /run/binfmt/aarch64-linux and flags `P`"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "cat /proc/sys/fs/binfmt_misc/aarch64-linux || exit 1",
                "grep -qxF -- enabled /proc/sys/fs/binfmt_misc/aarch64-linux && grep -qxF -- 'interpreter /run/binfmt/aarch64-linux' /proc/sys/fs/binfmt_misc/aarch64-linux && grep -qxF -- 'flags: P' /proc/sys/fs/binfmt_misc/aarch64-linux && grep -qxF -- 'magic 7f454c460201010000000000000000000200b700' /proc/sys/fs/binfmt_misc/aarch64-linux && grep -qxF -- 'mask ffffffffffffff00ffffffffffff00fffeffffff' /proc/sys/fs/binfmt_misc/aarch64-linux",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        "binfmt[0]@aarch64-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line=None,
    )

with subtest("command[1]@aarch64-linux: in a chroot holding only a static binary: the kernel looks for /run/binfmt/<system> inside it"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "export CROSSLAB_SYSTEM=aarch64-linux",
                "# in a chroot holding only a static binary: the kernel looks for /run/binfmt/<system> inside it",
                "root=$(mktemp -d)",
                "cp \"$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM/busybox\" \"$root/busybox\"",
                "chroot \"$root\" /busybox uname -m",
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
        passes=False,
        contains=["No such file or directory"],
        line=None,
    )

with subtest("command[2]@aarch64-linux: registered with F the kernel holds the static wrapper open and runs it in the chroot; the qemu it ex…"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "export CROSSLAB_SYSTEM=aarch64-linux",
                "# registered with F the kernel holds the static wrapper open and runs it in the chroot; the qemu it execs is not there",
                "entry=/proc/sys/fs/binfmt_misc/aarch64-linux",
                "echo -1 > \"$entry\"",
                "printf '%s' ':aarch64-linux:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xfe\\xff\\xff\\xff:/run/binfmt/aarch64-linux:PF' > /proc/sys/fs/binfmt_misc/register",
                "grep -x 'flags: PF' \"$entry\" || exit 1",
                "root=$(mktemp -d)",
                "cp \"$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM/busybox\" \"$root/busybox\"",
                "chroot \"$root\" /busybox uname -m > \"$root.out\" 2>&1",
                "status=$?",
                "echo \"chroot /busybox exited with status $status and printed $(wc -c < \"$root.out\") bytes\"",
                "cat \"$root.out\"",
                "exit \"$status\"",
                "",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        "command[2]@aarch64-linux",
        status,
        output,
        seconds,
        passes=False,
        contains=["exited with status 255 and printed 0 bytes"],
        line=None,
    )

finish()
