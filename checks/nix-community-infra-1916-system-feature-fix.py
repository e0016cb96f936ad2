# generated from labs/nix-community-infra-1916-system-feature-fix.toml by `cargo xtask lab render`; do not edit
# The testScript of checks/nix-community-infra-1916-system-feature-fix.nix: the probes of `cargo xtask lab show nix-community-infra-1916-system-feature-fix`,
# run in the VM as the host backend runs them. checks/nix-community-infra-1916-system-feature-fix.nix puts a
# JSON prelude and modules/crosslab_probe.py (run_probe, check_outcome)
# before this file.

start_all()
machine.wait_for_unit("multi-user.target")

with subtest("binfmt_misc is mounted"):
    machine.succeed("mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc")

with subtest("register `qemu-arm` for armv7l-linux (interpreter /usr/bin/qemu-arm-static, flags `PF`)"):
    machine.succeed("printf '%s' ':qemu-arm:M::\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x28\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-arm-static:PF' > /proc/sys/fs/binfmt_misc/register")

with subtest("build[0]@armv7l-linux: sandboxed nix-build of a armv7l-linux derivation that requires {gccarch-armv7-a}"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "payload=$(readlink -f \"$CROSSLAB_PAYLOADS\"/armv7l-linux)",
                "out=$(nix-build --no-out-link --argstr name crosslab-probe0-armv7l-linux --argstr system armv7l-linux \\",
                "  --argstr payload \"$payload\" --argstr qemuCpu cortex-a15 --argstr features gccarch-armv7-a \\",
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
        "build[0]@armv7l-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line="armv7l",
    )

finish()
