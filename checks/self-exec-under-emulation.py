# generated from labs/self-exec-under-emulation.toml by `cargo xtask lab render`; do not edit
# The testScript of checks/self-exec-under-emulation.nix: the probes of `cargo xtask lab show self-exec-under-emulation`,
# run in the VM as the host backend runs them. checks/self-exec-under-emulation.nix puts a
# JSON prelude and modules/crosslab_probe.py (run_probe, check_outcome)
# before this file.

start_all()
machine.wait_for_unit("multi-user.target")

with subtest("binfmt_misc is mounted"):
    machine.succeed("mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc")

with subtest("register `qemu-aarch64` for aarch64-linux (interpreter /usr/bin/qemu-aarch64-static, flags `PF`)"):
    machine.succeed("printf '%s' ':qemu-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-aarch64-static:PF' > /proc/sys/fs/binfmt_misc/register")

with subtest("command[0]@aarch64-linux: under the binfmt entry: the program re-executes /proc/self/exe"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "export CROSSLAB_SYSTEM=aarch64-linux",
                "# under the binfmt entry: the program re-executes /proc/self/exe",
                "\"$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM/busybox\" sh -c 'exec -a sh /proc/self/exe -c \"echo double-spawn child: $(uname -m)\"'",
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
        contains=["double-spawn child: aarch64"],
        line=None,
    )

with subtest("command[1]@aarch64-linux: in a sandboxed emulated nix-build: the builder re-executes /proc/self/exe"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "export CROSSLAB_SYSTEM=aarch64-linux",
                "# in a sandboxed emulated nix-build: the builder re-executes /proc/self/exe",
                "payload=$(readlink -f \"$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM\")",
                "out=$(nix-build --no-out-link --argstr payload \"$payload\" --argstr system \"$CROSSLAB_SYSTEM\" --expr '",
                "{ payload, system }:",
                "# A store path (a payload in the VM) keeps its references only through",
                "# builtins.storePath: since Nix 2.19 builtins.path copies it without them.",
                "let dir = if builtins.substring 0 11 payload == \"/nix/store/\"",
                "  then builtins.storePath payload",
                "  else builtins.path { path = /. + payload; name = \"crosslab-payload\"; };",
                "in derivation {",
                "  name = \"self-exec\"; inherit system;",
                "  builder = \"${dir}/busybox\";",
                "  args = [ \"sh\" \"-c\" \"exec -a sh /proc/self/exe -c \\\"echo double-spawn child: $(uname -m) > $out\\\"\" ];",
                "}') || exit 1",
                "cat \"$out\"",
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
        contains=["double-spawn child: aarch64"],
        line=None,
    )

with subtest("command[2]@aarch64-linux: qemu called directly, entry disabled: the program re-executes /proc/self/exe"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "export CROSSLAB_SYSTEM=aarch64-linux",
                "# qemu called directly, entry disabled: the program re-executes /proc/self/exe",
                "entry=/proc/sys/fs/binfmt_misc/qemu-aarch64",
                "echo 0 > \"$entry\"",
                "trap 'echo 1 > \"$entry\"' EXIT",
                "/usr/bin/qemu-aarch64-static \"$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM/busybox\" sh -c 'exec -a sh /proc/self/exe -c \"echo double-spawn child: $(uname -m)\"'",
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
        contains=["Exec format error"],
        line=None,
    )

finish()
