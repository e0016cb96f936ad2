# generated from labs/nixpkgs-61537-ci.toml by `cargo xtask lab render`; do not edit
# The testScript of checks/nixpkgs-61537-ci.nix: the probes of `cargo xtask lab show nixpkgs-61537-ci`,
# run in the VM as the host backend runs them. checks/nixpkgs-61537-ci.nix puts a
# JSON prelude and modules/crosslab_probe.py (run_probe, check_outcome)
# before this file.

start_all()
machine.wait_for_unit("multi-user.target")

with subtest("binfmt_misc is mounted"):
    machine.succeed("mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc")

with subtest("the machine is in the state the lab's [machine] describes"):
    machine.succeed("umount /proc/sys/fs/binfmt_misc")

with subtest("build[0]@x86_64-linux: sandboxed nix-build of a x86_64-linux derivation running a program for aarch64-linux"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "payload=$(readlink -f \"$CROSSLAB_PAYLOADS\"/aarch64-linux)",
                "out=$(nix-build --no-out-link --argstr name crosslab-probe0-x86_64-linux --argstr system x86_64-linux \\",
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
        "build[0]@x86_64-linux",
        status,
        output,
        seconds,
        passes=False,
        contains=["Exec format error"],
        line=None,
    )

finish()
