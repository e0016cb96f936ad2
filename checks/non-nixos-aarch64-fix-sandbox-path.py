# generated from labs/non-nixos-aarch64-fix-sandbox-path.toml by `cargo xtask lab render`; do not edit
# The testScript of checks/non-nixos-aarch64-fix-sandbox-path.nix: the probes of `cargo xtask lab show non-nixos-aarch64-fix-sandbox-path`,
# run in the VM as the host backend runs them. checks/non-nixos-aarch64-fix-sandbox-path.nix puts a
# JSON prelude and modules/crosslab_probe.py (run_probe, check_outcome)
# before this file.

start_all()
machine.wait_for_unit("multi-user.target")

with subtest("binfmt_misc is mounted"):
    machine.succeed("mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc")

with subtest("register `qemu-aarch64` for aarch64-linux (interpreter /usr/bin/qemu-aarch64-static, flags `P`)"):
    machine.succeed("printf '%s' ':qemu-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-aarch64-static:P' > /proc/sys/fs/binfmt_misc/register")

with subtest("binfmt[0]@aarch64-linux: binfmt_misc entry `qemu-aarch64` is enabled with /usr/bin/qemu-aarch64-static and flags `P`"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "cat /proc/sys/fs/binfmt_misc/qemu-aarch64 || exit 1",
                "grep -qxF -- enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 && grep -qxF -- 'interpreter /usr/bin/qemu-aarch64-static' /proc/sys/fs/binfmt_misc/qemu-aarch64 && grep -qxF -- 'flags: P' /proc/sys/fs/binfmt_misc/qemu-aarch64 && grep -qxF -- 'magic 7f454c460201010000000000000000000200b700' /proc/sys/fs/binfmt_misc/qemu-aarch64 && grep -qxF -- 'mask ffffffffffffff00ffffffffffff00fffeffffff' /proc/sys/fs/binfmt_misc/qemu-aarch64",
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

with subtest("nix-config[1]@aarch64-linux: Nix reports sandbox ∋ true, extra-platforms ∋ aarch64-linux, sandbox-paths ∋ /usr/bin/qemu-aarch64-static, sandbox-paths ∋ /usr/bin/qemu-aarch64?"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "conf=$(nix --extra-experimental-features nix-command show-config) || exit 1",
                "printf '%s\\n' \"$conf\" | grep -E '^(sandbox|sandbox-paths|extra-platforms) = '",
                "has() { printf '%s\\n' \"$conf\" | grep -E \"^$1 = \" | tr ' ' '\\n' | grep -qxF -- \"$2\" || { printf 'missing from %s: %s\\n' \"$1\" \"$2\"; exit 1; }; }",
                "has sandbox true",
                "has extra-platforms aarch64-linux",
                "has sandbox-paths /usr/bin/qemu-aarch64-static",
                "has sandbox-paths '/usr/bin/qemu-aarch64?'",
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

with subtest("build[2]@aarch64-linux: sandboxed nix-build of a aarch64-linux derivation"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "payload=$(readlink -f \"$CROSSLAB_PAYLOADS\"/aarch64-linux)",
                "out=$(nix-build --no-out-link --argstr name crosslab-probe2-aarch64-linux --argstr system aarch64-linux \\",
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
        "build[2]@aarch64-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line="aarch64",
    )

finish()
