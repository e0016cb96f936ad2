# generated from labs/nix-5258-seccomp-emulated-nix.toml by `cargo xtask lab render`; do not edit
# The testScript of checks/nix-5258-seccomp-emulated-nix.nix: the probes of `cargo xtask lab show nix-5258-seccomp-emulated-nix`,
# run in the VM as the host backend runs them. checks/nix-5258-seccomp-emulated-nix.nix puts a
# JSON prelude and modules/crosslab_probe.py (run_probe, check_outcome)
# before this file.

start_all()
machine.wait_for_unit("multi-user.target")

with subtest("binfmt_misc is mounted"):
    machine.succeed("mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc")

with subtest("register `qemu-aarch64` for aarch64-linux (interpreter /usr/bin/qemu-aarch64-static, flags `PF`)"):
    machine.succeed("printf '%s' ':qemu-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-aarch64-static:PF' > /proc/sys/fs/binfmt_misc/register")

with subtest("build[0]@aarch64-linux: unsandboxed nix-build of a aarch64-linux derivation"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "payload=$(readlink -f \"$CROSSLAB_PAYLOADS\"/aarch64-linux)",
                "out=$(nix-build --no-out-link --argstr name crosslab-probe0-aarch64-linux --argstr system aarch64-linux \\",
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
        "build[0]@aarch64-linux",
        status,
        output,
        seconds,
        passes=False,
        contains=["unable to load seccomp BPF program: Invalid argument"],
        line=None,
    )

finish()
