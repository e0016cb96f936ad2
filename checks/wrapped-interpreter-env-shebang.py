# generated from labs/wrapped-interpreter-env-shebang.toml by `cargo xtask lab render`; do not edit
# The testScript of checks/wrapped-interpreter-env-shebang.nix: the probes of `cargo xtask lab show wrapped-interpreter-env-shebang`,
# run in the VM as the host backend runs them. checks/wrapped-interpreter-env-shebang.nix puts a
# JSON prelude and modules/crosslab_probe.py (run_probe, check_outcome)
# before this file.

start_all()
machine.wait_for_unit("multi-user.target")

with subtest("binfmt_misc is mounted"):
    machine.succeed("mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc")

with subtest("command[0]@aarch64-linux: register /run/binfmt/aarch64-linux, a #!/usr/bin/env sh wrapper around qemu"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "export CROSSLAB_SYSTEM=aarch64-linux",
                "# register /run/binfmt/aarch64-linux, a #!/usr/bin/env sh wrapper around qemu",
                "mkdir -p /run/binfmt",
                "printf '#!/usr/bin/env sh\\nexec /usr/bin/qemu-aarch64-static \"$@\"\\n' > /run/binfmt/aarch64-linux",
                "chmod +x /run/binfmt/aarch64-linux",
                "printf '%s' ':aarch64-linux:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xfe\\xff\\xff\\xff:/run/binfmt/aarch64-linux:' > /proc/sys/fs/binfmt_misc/register",
                "cat /proc/sys/fs/binfmt_misc/aarch64-linux",
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
        contains=[],
        line=None,
    )

with subtest("exec[1]@aarch64-linux: a static aarch64-linux binary runs (qemu's default CPU); `uname -m` prints aarch64"):
    status, output, seconds = run_probe(
        "\"$CROSSLAB_PAYLOADS\"/aarch64-linux/busybox uname -m",
        timeout=120,
    )
    check_outcome(
        "exec[1]@aarch64-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line="aarch64",
    )

with subtest("exec[1]@x86_64-linux: a static x86_64-linux binary runs (natively); `uname -m` prints x86_64"):
    status, output, seconds = run_probe(
        "\"$CROSSLAB_PAYLOADS\"/x86_64-linux/busybox uname -m",
        timeout=120,
    )
    check_outcome(
        "exec[1]@x86_64-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line="x86_64",
    )

with subtest("build[2]@aarch64-linux: sandboxed nix-build of a aarch64-linux derivation"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "payload=$(readlink -f \"$CROSSLAB_PAYLOADS\"/aarch64-linux)",
                "out=$(nix-build --no-out-link --argstr name crosslab-probe2-aarch64-linux --argstr system aarch64-linux \\",
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
        "build[2]@aarch64-linux",
        status,
        output,
        seconds,
        passes=False,
        contains=["No such file or directory"],
        line=None,
    )

with subtest("command[3]@aarch64-linux: make the wrapper's shell one the sandbox can see: #!/run/binfmt/sh"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "export CROSSLAB_SYSTEM=aarch64-linux",
                "# make the wrapper's shell one the sandbox can see: #!/run/binfmt/sh",
                "cp \"$CROSSLAB_PAYLOADS/x86_64-linux/busybox\" /run/binfmt/sh",
                "printf '#!/run/binfmt/sh\\nexec /usr/bin/qemu-aarch64-static \"$@\"\\n' > /run/binfmt/aarch64-linux",
                "",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        "command[3]@aarch64-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line=None,
    )

with subtest("build[4]@aarch64-linux: sandboxed nix-build of a aarch64-linux derivation"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "payload=$(readlink -f \"$CROSSLAB_PAYLOADS\"/aarch64-linux)",
                "out=$(nix-build --no-out-link --argstr name crosslab-probe4-aarch64-linux --argstr system aarch64-linux \\",
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
        "build[4]@aarch64-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line="aarch64",
    )

finish()
