# generated from labs/non-nixos-aarch64.toml by `cargo xtask lab render`; do not edit
# The testScript of checks/non-nixos-aarch64.nix: the probes of `cargo xtask lab show non-nixos-aarch64`,
# run in the VM as the host backend runs them. checks/non-nixos-aarch64.nix puts a
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
        passes=True,
        contains=[],
        line="aarch64",
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
        contains=["No such file or directory"],
        line=None,
    )

with subtest("compile[4]@aarch64-linux: the aarch64-linux C toolchain compiles and runs a program in a sandboxed nix-build; it prints \"compiled for aarch64, runs as aarch64\""):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "payload=$(readlink -f \"$CROSSLAB_PAYLOADS\"/aarch64-linux)",
                "toolchain=$(readlink -e \"${CROSSLAB_TOOLCHAINS:-/nonexistent}\"/aarch64-linux) \\",
                "  || { echo 'no aarch64-linux toolchain: $CROSSLAB_TOOLCHAINS/aarch64-linux is missing'; exit 1; }",
                "source='#include <stdio.h>",
                "#include <sys/utsname.h>",
                "#define STR1(x) #x",
                "#define STR(x) STR1(x)",
                "#if defined(__x86_64__)",
                "#define ARCH \"x86_64\"",
                "#elif defined(__i686__)",
                "#define ARCH \"i686\"",
                "#elif defined(__i386__)",
                "#define ARCH \"i386\"",
                "#elif defined(__aarch64__)",
                "#define ARCH \"aarch64\"",
                "#elif defined(__arm__)",
                "#define ARCH \"armv\" STR(__ARM_ARCH)",
                "#elif defined(__riscv) && __riscv_xlen == 64",
                "#define ARCH \"riscv64\"",
                "#elif defined(__s390x__)",
                "#define ARCH \"s390x\"",
                "#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__",
                "#define ARCH \"ppc64le\"",
                "#elif defined(__mips64) && defined(__MIPSEL__)",
                "#define ARCH \"mips64el\"",
                "#else",
                "#define ARCH \"unknown\"",
                "#endif",
                "int main(void) {",
                "  struct utsname u;",
                "  if (uname(&u) != 0) {",
                "    perror(\"uname\");",
                "    return 1;",
                "  }",
                "  printf(\"compiled for %s, runs as %s\\n\", ARCH, u.machine);",
                "  return 0;",
                "}",
                "'",
                "out=$(nix-build --no-out-link --argstr name crosslab-probe4-compile-aarch64-linux --argstr system aarch64-linux \\",
                "  --argstr payload \"$payload\" --argstr toolchain \"$toolchain\" --argstr qemuCpu '' \\",
                "  --argstr source \"$source\" --argstr file hello.c --argstr compile 'cc -O2 -o hello hello.c' \\",
                "  --expr '{ name, system, payload, toolchain, source, file, compile, qemuCpu ? \"\" }:",
                "let",
                "  dir = if builtins.substring 0 11 payload == \"/nix/store/\"",
                "    then builtins.storePath payload",
                "    else builtins.path { path = /. + payload; name = \"crosslab-payload\"; };",
                "  cc = builtins.storePath toolchain;",
                "in derivation ({",
                "  inherit name system source file compile;",
                "  builder = \"${dir}/sh\";",
                "  PATH = \"${cc}/bin\";",
                "  args = [ \"-c\" '\\'''\\''",
                "    ${dir}/busybox printf '\\''%s'\\'' \"$source\" > \"$file\"",
                "    read start _ < /proc/uptime",
                "    $compile || exit 1",
                "    read end _ < /proc/uptime",
                "    ./hello > $out || exit 1",
                "    # /proc/uptime counts hundredths of a second: busybox'\\''s date has no %N.",
                "    echo \"emulated compile: $(( ('\\'''\\''${end%.*}'\\'''\\''${end#*.} - '\\'''\\''${start%.*}'\\'''\\''${start#*.}) * 10 )) ms\" >> $out",
                "  '\\'''\\'' ];",
                "} // (if qemuCpu == \"\" then { } else { QEMU_CPU = qemuCpu; }))') || exit 1",
                "cat \"$out\"",
                "# The same program with the host's cross compiler, for the time it takes.",
                "if command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then",
                "  d=$(mktemp -d) && printf '%s' \"$source\" > \"$d/hello.c\" && start=$(date +%s%N) \\",
                "    && aarch64-linux-gnu-gcc -O2 -o \"$d/hello\" \"$d/hello.c\" && end=$(date +%s%N) \\",
                "    && echo \"cross compile: $(( (end - start) / 1000000 )) ms\"",
                "  rm -rf \"$d\"",
                "fi",
                "true",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        "compile[4]@aarch64-linux",
        status,
        output,
        seconds,
        passes=False,
        contains=["No such file or directory"],
        line=None,
    )

finish()
