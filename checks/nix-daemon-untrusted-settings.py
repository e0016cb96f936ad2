# generated from labs/nix-daemon-untrusted-settings.toml by `cargo xtask lab render`; do not edit
# The testScript of checks/nix-daemon-untrusted-settings.nix: the probes of `cargo xtask lab show nix-daemon-untrusted-settings`,
# run in the VM as the host backend runs them. checks/nix-daemon-untrusted-settings.nix puts a
# JSON prelude and modules/crosslab_probe.py (run_probe, check_outcome)
# before this file.

start_all()
machine.wait_for_unit("multi-user.target")

with subtest("binfmt_misc is mounted"):
    machine.succeed("mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc")

with subtest("register `qemu-aarch64` for aarch64-linux (interpreter /usr/bin/qemu-aarch64-static, flags `P`)"):
    machine.succeed("printf '%s' ':qemu-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-aarch64-static:P' > /proc/sys/fs/binfmt_misc/register")

with subtest("build[0]@aarch64-linux: sandboxed nix-build of a aarch64-linux derivation with --option extra-sandbox-paths /usr/bin/qemu-aarch64-static /usr/bin/qemu-aarch64?"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "payload=$(readlink -f \"$CROSSLAB_PAYLOADS\"/aarch64-linux)",
                "out=$(nix-build --option extra-sandbox-paths '/usr/bin/qemu-aarch64-static /usr/bin/qemu-aarch64?' --no-out-link --argstr name crosslab-probe0-aarch64-linux --argstr system aarch64-linux \\",
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
        contains=["No such file or directory"],
        line=None,
    )

with subtest("nix-conf-edit[1]@aarch64-linux: add to nix.conf: extra-sandbox-paths = /usr/bin/qemu-aarch64-static /usr/bin/qemu-aarch64? (the daemon keeps running)"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "printf '%s\\n' 'extra-sandbox-paths = /usr/bin/qemu-aarch64-static /usr/bin/qemu-aarch64?' >> \"$NIX_CONF_DIR/nix.conf\"",
                "cat \"$NIX_CONF_DIR/nix.conf\"",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        "nix-conf-edit[1]@aarch64-linux",
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

with subtest("nix-conf-edit[3]@aarch64-linux: add to nix.conf: extra-sandbox-paths = /usr/bin/qemu-aarch64-static /usr/bin/qemu-aarch64? (then restart the daemon)"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "printf '%s\\n' 'extra-sandbox-paths = /usr/bin/qemu-aarch64-static /usr/bin/qemu-aarch64?' >> \"$NIX_CONF_DIR/nix.conf\"",
                "cat \"$NIX_CONF_DIR/nix.conf\"",
                "set -eu",
                "d=/run/crosslab-daemon",
                "mkdir -p \"$d\"",
                "if [ ! -e \"$d/passwd\" ]; then",
                "  { awk -F: '$1 !~ /^nixbld[0-9]+$/ && $1 != \"crosslab\" && $3 != 1000 && ($3 <= 30000 || $3 > 30010)' /etc/passwd",
                "    i=1; while [ $i -le 10 ]; do echo \"nixbld$i:x:$((30000 + i)):30000:Nix build user $i:/var/empty:/usr/sbin/nologin\"; i=$((i + 1)); done",
                "    echo \"crosslab:x:1000:1000:crosslab's probes:/run/crosslab/home:/bin/sh\"; } > \"$d/passwd\"",
                "  { awk -F: '$1 != \"nixbld\" && $1 != \"crosslab\" && $3 != 30000 && $3 != 1000' /etc/group",
                "    echo \"nixbld:x:30000:nixbld1,nixbld2,nixbld3,nixbld4,nixbld5,nixbld6,nixbld7,nixbld8,nixbld9,nixbld10\"",
                "    echo \"crosslab:x:1000:\"; } > \"$d/group\"",
                "  mount --bind \"$d/passwd\" /etc/passwd",
                "  mount --bind \"$d/group\" /etc/group",
                "  chown -R 1000:1000 /run/crosslab/home",
                "fi",
                "if [ -e \"$d/pid\" ]; then",
                "  p=$(cat \"$d/pid\")",
                "  kill \"$p\" 2>/dev/null || true",
                "  # Gone, or a zombie: the lab's PID 1 may not reap it yet.",
                "  while [ -e \"/proc/$p\" ] && ! grep -q '^State:[[:space:]]*Z' \"/proc/$p/status\" 2>/dev/null; do sleep 0.01; done",
                "fi",
                "rm -f /nix/var/nix/daemon-socket/socket",
                "# The daemon opens the store itself; NIX_REMOTE=daemon would make it its own client.",
                "NIX_REMOTE=local setsid nix-daemon < /dev/null > \"$d/log\" 2>&1 &",
                "echo $! > \"$d/pid\"",
                "i=0",
                "until [ -S /nix/var/nix/daemon-socket/socket ]; do",
                "  i=$((i + 1))",
                "  if [ $i -gt 1000 ] || ! kill -0 \"$(cat \"$d/pid\")\" 2>/dev/null; then echo \"nix-daemon did not start:\"; cat \"$d/log\"; exit 1; fi",
                "  sleep 0.01",
                "done",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        "nix-conf-edit[3]@aarch64-linux",
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
