# generated from labs/nixos-vm-riscv64.toml by `cargo xtask lab render`; do not edit
# The testScript of checks/nixos-vm-riscv64.nix: the probes of `cargo xtask lab show nixos-vm-riscv64`,
# run in the VM as the host backend runs them. checks/nixos-vm-riscv64.nix puts a
# JSON prelude and modules/crosslab_probe.py (run_probe, check_outcome)
# before this file.

start_all()
machine.wait_for_unit("multi-user.target")

with subtest("binfmt_misc is mounted"):
    machine.succeed("mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc")

with subtest("binfmt[0]@riscv64-linux: binfmt_misc entry `riscv64-linux` is enabled with /run/binfmt/riscv64-linux and flags `P`"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "cat /proc/sys/fs/binfmt_misc/riscv64-linux || exit 1",
                "grep -qxF -- enabled /proc/sys/fs/binfmt_misc/riscv64-linux && grep -qxF -- 'interpreter /run/binfmt/riscv64-linux' /proc/sys/fs/binfmt_misc/riscv64-linux && grep -qxF -- 'flags: P' /proc/sys/fs/binfmt_misc/riscv64-linux && grep -qxF -- 'magic 7f454c460201010000000000000000000200f300' /proc/sys/fs/binfmt_misc/riscv64-linux && grep -qxF -- 'mask ffffffffffffff00fffffffffffffffffeffffff' /proc/sys/fs/binfmt_misc/riscv64-linux",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        "binfmt[0]@riscv64-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line=None,
    )

with subtest("nix-config[1]@riscv64-linux: Nix reports sandbox ∋ true, extra-platforms ∋ riscv64-linux, sandbox-paths ∋ /run/binfmt"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "conf=$(nix --extra-experimental-features nix-command show-config) || exit 1",
                "printf '%s\\n' \"$conf\" | grep -E '^(sandbox|sandbox-paths|extra-platforms) = '",
                "has() { printf '%s\\n' \"$conf\" | grep -E \"^$1 = \" | tr ' ' '\\n' | grep -qxF -- \"$2\" || { printf 'missing from %s: %s\\n' \"$1\" \"$2\"; exit 1; }; }",
                "has sandbox true",
                "has extra-platforms riscv64-linux",
                "has sandbox-paths /run/binfmt",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        "nix-config[1]@riscv64-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line=None,
    )

with subtest("exec[2]@riscv64-linux: a static riscv64-linux binary runs (qemu's default CPU); `uname -m` prints riscv64"):
    status, output, seconds = run_probe(
        "\"$CROSSLAB_PAYLOADS\"/riscv64-linux/busybox uname -m",
        timeout=120,
    )
    check_outcome(
        "exec[2]@riscv64-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line="riscv64",
    )

with subtest("build[3]@riscv64-linux: sandboxed nix-build of a riscv64-linux derivation"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "payload=$(readlink -f \"$CROSSLAB_PAYLOADS\"/riscv64-linux)",
                "out=$(nix-build --no-out-link --argstr name crosslab-probe3-riscv64-linux --argstr system riscv64-linux \\",
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
        "build[3]@riscv64-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line="riscv64",
    )

finish()
