# generated from labs/container-registered-emulator.toml by `cargo xtask lab render`; do not edit
# The testScript of checks/container-registered-emulator.nix: the probes of `cargo xtask lab show container-registered-emulator`,
# run in the VM as the host backend runs them. checks/container-registered-emulator.nix puts a
# JSON prelude and modules/crosslab_probe.py (run_probe, check_outcome)
# before this file.

start_all()
machine.wait_for_unit("multi-user.target")

with subtest("binfmt_misc is mounted"):
    machine.succeed("mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc")

with subtest("command[0]@aarch64-linux: registered with F from a container's /usr/bin, then the container is gone"):
    status, output, seconds = run_probe(
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
        "command[0]@aarch64-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=["aarch64"],
        line=None,
    )

with subtest("build[1]@aarch64-linux: sandboxed nix-build of a aarch64-linux derivation"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "payload=$(readlink -f \"$CROSSLAB_PAYLOADS\"/aarch64-linux)",
                "out=$(nix-build --no-out-link --argstr name crosslab-probe1-aarch64-linux --argstr system aarch64-linux \\",
                "  --argstr payload \"$payload\" --argstr qemuCpu '' \\",
                "  --expr '{ name, system, payload, qemuCpu ? \"\", features ? \"\" }:",
                "let",
                "  dir = if builtins.substring 0 11 payload == \"/nix/store/\"",
                "    then builtins.storePath payload",
                "    else builtins.path { path = /. + payload; name = \"crosslab-payload\"; };",
                "in derivation ({",
                "  inherit name system;",
                "  builder = \"${dir}/sh\";",
                "  args = [ \"-c\" \"${dir}/busybox uname -m > $out\" ];",
                "} // (if qemuCpu == \"\" then { } else { QEMU_CPU = qemuCpu; })",
                "  // (if features == \"\" then { } else {",
                "    requiredSystemFeatures = builtins.filter builtins.isString (builtins.split \" \" features);",
                "  }))') || exit 1",
                "cat \"$out\"",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        "build[1]@aarch64-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line="aarch64",
    )

with subtest("command[2]@aarch64-linux: registered without F from a container's /usr/bin, then the container is gone"):
    status, output, seconds = run_probe(
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
        "command[2]@aarch64-linux",
        status,
        output,
        seconds,
        passes=False,
        contains=["No such file or directory"],
        line=None,
    )

finish()
