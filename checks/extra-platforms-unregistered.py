# generated from labs/extra-platforms-unregistered.toml by `cargo xtask lab render`; do not edit
# The testScript of checks/extra-platforms-unregistered.nix: the probes of `cargo xtask lab show extra-platforms-unregistered`,
# run in the VM as the host backend runs them. checks/extra-platforms-unregistered.nix puts a
# JSON prelude and modules/crosslab_probe.py (run_probe, check_outcome)
# before this file.

start_all()
machine.wait_for_unit("multi-user.target")

with subtest("binfmt_misc is mounted"):
    machine.succeed("mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc")

with subtest("binfmt[0]@aarch64-linux: no binfmt_misc entry for aarch64-linux (interpreter = \"none\")"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "ls /proc/sys/fs/binfmt_misc",
                "test ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 && test ! -e /proc/sys/fs/binfmt_misc/aarch64-linux",
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

with subtest("nix-config[1]@aarch64-linux: Nix reports sandbox ∋ true, extra-platforms ∋ aarch64-linux"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "conf=$(nix --extra-experimental-features nix-command show-config) || exit 1",
                "printf '%s\\n' \"$conf\" | grep -E '^(sandbox|sandbox-paths|extra-platforms) = '",
                "has() { printf '%s\\n' \"$conf\" | grep -E \"^$1 = \" | tr ' ' '\\n' | grep -qxF -- \"$2\" || { printf 'missing from %s: %s\\n' \"$1\" \"$2\"; exit 1; }; }",
                "has sandbox true",
                "has extra-platforms aarch64-linux",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        "nix-config[1]@aarch64-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line=None,
    )

with subtest("exec[2]@aarch64-linux: a static aarch64-linux binary runs (qemu's default CPU); `uname -m` prints aarch64"):
    status, output, seconds = run_probe(
        "\"$CROSSLAB_PAYLOADS\"/aarch64-linux/busybox uname -m",
        timeout=120,
    )
    check_outcome(
        "exec[2]@aarch64-linux",
        status,
        output,
        seconds,
        passes=False,
        contains=["Exec format error"],
        line=None,
    )

with subtest("build[3]@aarch64-linux: sandboxed nix-build of a aarch64-linux derivation"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "payload=$(readlink -f \"$CROSSLAB_PAYLOADS\"/aarch64-linux)",
                "out=$(nix-build --no-out-link --argstr name crosslab-probe3-aarch64-linux --argstr system aarch64-linux \\",
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
        "build[3]@aarch64-linux",
        status,
        output,
        seconds,
        passes=False,
        contains=["Exec format error"],
        line=None,
    )

finish()
