# generated from labs/multiarch-uname.toml by `cargo xtask lab render`; do not edit
# The testScript of checks/multiarch-uname.nix: the probes of `cargo xtask lab show multiarch-uname`,
# run in the VM as the host backend runs them. checks/multiarch-uname.nix puts a
# JSON prelude and modules/crosslab_probe.py (run_probe, check_outcome)
# before this file.

start_all()
machine.wait_for_unit("multi-user.target")

with subtest("binfmt_misc is mounted"):
    machine.succeed("mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc")

with subtest("register `qemu-arm` for armv5tel-linux (interpreter /usr/bin/qemu-arm-static, flags `POF`)"):
    machine.succeed("printf '%s' ':qemu-arm:M::\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x28\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-arm-static:POF' > /proc/sys/fs/binfmt_misc/register")

with subtest("register `qemu-aarch64` for aarch64-linux (interpreter /usr/bin/qemu-aarch64-static, flags `POF`)"):
    machine.succeed("printf '%s' ':qemu-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-aarch64-static:POF' > /proc/sys/fs/binfmt_misc/register")

with subtest("register `qemu-riscv64` for riscv64-linux (interpreter /usr/bin/qemu-riscv64-static, flags `POF`)"):
    machine.succeed("printf '%s' ':qemu-riscv64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xf3\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-riscv64-static:POF' > /proc/sys/fs/binfmt_misc/register")

with subtest("register `qemu-s390x` for s390x-linux (interpreter /usr/bin/qemu-s390x-static, flags `POF`)"):
    machine.succeed("printf '%s' ':qemu-s390x:M::\\x7fELF\\x02\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x16:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff:/usr/bin/qemu-s390x-static:POF' > /proc/sys/fs/binfmt_misc/register")

with subtest("register `qemu-ppc64le` for powerpc64le-linux (interpreter /usr/bin/qemu-ppc64le-static, flags `POF`)"):
    machine.succeed("printf '%s' ':qemu-ppc64le:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x15\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\x00:/usr/bin/qemu-ppc64le-static:POF' > /proc/sys/fs/binfmt_misc/register")

with subtest("register `qemu-mips64el` for mips64el-linux (interpreter /usr/bin/qemu-mips64el-static, flags `POF`)"):
    machine.succeed("printf '%s' ':qemu-mips64el:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x08\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-mips64el-static:POF' > /proc/sys/fs/binfmt_misc/register")

with subtest("binfmt[0]@i686-linux: i686-linux runs natively on x86_64: no entry may take it over"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "ls /proc/sys/fs/binfmt_misc",
                "test ! -e /proc/sys/fs/binfmt_misc/qemu-i386 && test ! -e /proc/sys/fs/binfmt_misc/i686-linux",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        "binfmt[0]@i686-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line=None,
    )

with subtest("binfmt[0]@armv5tel-linux: binfmt_misc entry `qemu-arm` is enabled with /usr/bin/qemu-arm-static and flags `POF`"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "cat /proc/sys/fs/binfmt_misc/qemu-arm || exit 1",
                "grep -qxF -- enabled /proc/sys/fs/binfmt_misc/qemu-arm && grep -qxF -- 'interpreter /usr/bin/qemu-arm-static' /proc/sys/fs/binfmt_misc/qemu-arm && grep -qxF -- 'flags: POF' /proc/sys/fs/binfmt_misc/qemu-arm && grep -qxF -- 'magic 7f454c4601010100000000000000000002002800' /proc/sys/fs/binfmt_misc/qemu-arm && grep -qxF -- 'mask ffffffffffffff00ffffffffffff00fffeffffff' /proc/sys/fs/binfmt_misc/qemu-arm",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        "binfmt[0]@armv5tel-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line=None,
    )

with subtest("binfmt[0]@armv6l-linux: binfmt_misc entry `qemu-arm` is enabled with /usr/bin/qemu-arm-static and flags `POF`"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "cat /proc/sys/fs/binfmt_misc/qemu-arm || exit 1",
                "grep -qxF -- enabled /proc/sys/fs/binfmt_misc/qemu-arm && grep -qxF -- 'interpreter /usr/bin/qemu-arm-static' /proc/sys/fs/binfmt_misc/qemu-arm && grep -qxF -- 'flags: POF' /proc/sys/fs/binfmt_misc/qemu-arm && grep -qxF -- 'magic 7f454c4601010100000000000000000002002800' /proc/sys/fs/binfmt_misc/qemu-arm && grep -qxF -- 'mask ffffffffffffff00ffffffffffff00fffeffffff' /proc/sys/fs/binfmt_misc/qemu-arm",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        "binfmt[0]@armv6l-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line=None,
    )

with subtest("binfmt[0]@armv7l-linux: binfmt_misc entry `qemu-arm` is enabled with /usr/bin/qemu-arm-static and flags `POF`"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "cat /proc/sys/fs/binfmt_misc/qemu-arm || exit 1",
                "grep -qxF -- enabled /proc/sys/fs/binfmt_misc/qemu-arm && grep -qxF -- 'interpreter /usr/bin/qemu-arm-static' /proc/sys/fs/binfmt_misc/qemu-arm && grep -qxF -- 'flags: POF' /proc/sys/fs/binfmt_misc/qemu-arm && grep -qxF -- 'magic 7f454c4601010100000000000000000002002800' /proc/sys/fs/binfmt_misc/qemu-arm && grep -qxF -- 'mask ffffffffffffff00ffffffffffff00fffeffffff' /proc/sys/fs/binfmt_misc/qemu-arm",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        "binfmt[0]@armv7l-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line=None,
    )

with subtest("binfmt[0]@aarch64-linux: binfmt_misc entry `qemu-aarch64` is enabled with /usr/bin/qemu-aarch64-static and flags `POF`"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "cat /proc/sys/fs/binfmt_misc/qemu-aarch64 || exit 1",
                "grep -qxF -- enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 && grep -qxF -- 'interpreter /usr/bin/qemu-aarch64-static' /proc/sys/fs/binfmt_misc/qemu-aarch64 && grep -qxF -- 'flags: POF' /proc/sys/fs/binfmt_misc/qemu-aarch64 && grep -qxF -- 'magic 7f454c460201010000000000000000000200b700' /proc/sys/fs/binfmt_misc/qemu-aarch64 && grep -qxF -- 'mask ffffffffffffff00ffffffffffff00fffeffffff' /proc/sys/fs/binfmt_misc/qemu-aarch64",
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

with subtest("binfmt[0]@riscv64-linux: binfmt_misc entry `qemu-riscv64` is enabled with /usr/bin/qemu-riscv64-static and flags `POF`"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "cat /proc/sys/fs/binfmt_misc/qemu-riscv64 || exit 1",
                "grep -qxF -- enabled /proc/sys/fs/binfmt_misc/qemu-riscv64 && grep -qxF -- 'interpreter /usr/bin/qemu-riscv64-static' /proc/sys/fs/binfmt_misc/qemu-riscv64 && grep -qxF -- 'flags: POF' /proc/sys/fs/binfmt_misc/qemu-riscv64 && grep -qxF -- 'magic 7f454c460201010000000000000000000200f300' /proc/sys/fs/binfmt_misc/qemu-riscv64 && grep -qxF -- 'mask ffffffffffffff00fffffffffffffffffeffffff' /proc/sys/fs/binfmt_misc/qemu-riscv64",
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

with subtest("binfmt[0]@s390x-linux: binfmt_misc entry `qemu-s390x` is enabled with /usr/bin/qemu-s390x-static and flags `POF`"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "cat /proc/sys/fs/binfmt_misc/qemu-s390x || exit 1",
                "grep -qxF -- enabled /proc/sys/fs/binfmt_misc/qemu-s390x && grep -qxF -- 'interpreter /usr/bin/qemu-s390x-static' /proc/sys/fs/binfmt_misc/qemu-s390x && grep -qxF -- 'flags: POF' /proc/sys/fs/binfmt_misc/qemu-s390x && grep -qxF -- 'magic 7f454c4602020100000000000000000000020016' /proc/sys/fs/binfmt_misc/qemu-s390x && grep -qxF -- 'mask ffffffffffffff00fffffffffffffffffffeffff' /proc/sys/fs/binfmt_misc/qemu-s390x",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        "binfmt[0]@s390x-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line=None,
    )

with subtest("binfmt[0]@powerpc64le-linux: binfmt_misc entry `qemu-ppc64le` is enabled with /usr/bin/qemu-ppc64le-static and flags `POF`"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "cat /proc/sys/fs/binfmt_misc/qemu-ppc64le || exit 1",
                "grep -qxF -- enabled /proc/sys/fs/binfmt_misc/qemu-ppc64le && grep -qxF -- 'interpreter /usr/bin/qemu-ppc64le-static' /proc/sys/fs/binfmt_misc/qemu-ppc64le && grep -qxF -- 'flags: POF' /proc/sys/fs/binfmt_misc/qemu-ppc64le && grep -qxF -- 'magic 7f454c4602010100000000000000000002001500' /proc/sys/fs/binfmt_misc/qemu-ppc64le && grep -qxF -- 'mask ffffffffffffff00fffffffffffffffffeffff00' /proc/sys/fs/binfmt_misc/qemu-ppc64le",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        "binfmt[0]@powerpc64le-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line=None,
    )

with subtest("binfmt[0]@mips64el-linux: binfmt_misc entry `qemu-mips64el` is enabled with /usr/bin/qemu-mips64el-static and flags `POF`"):
    status, output, seconds = run_probe(
        "\n".join(
            [
                "cat /proc/sys/fs/binfmt_misc/qemu-mips64el || exit 1",
                "grep -qxF -- enabled /proc/sys/fs/binfmt_misc/qemu-mips64el && grep -qxF -- 'interpreter /usr/bin/qemu-mips64el-static' /proc/sys/fs/binfmt_misc/qemu-mips64el && grep -qxF -- 'flags: POF' /proc/sys/fs/binfmt_misc/qemu-mips64el && grep -qxF -- 'magic 7f454c4602010100000000000000000002000800' /proc/sys/fs/binfmt_misc/qemu-mips64el && grep -qxF -- 'mask ffffffffffffff0000fffffffffffffffeffffff' /proc/sys/fs/binfmt_misc/qemu-mips64el",
            ]
        ),
        timeout=120,
    )
    check_outcome(
        "binfmt[0]@mips64el-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line=None,
    )

with subtest("exec[1]@i686-linux: a static i686-linux binary runs (natively, personality i686); `uname -m` prints i686"):
    status, output, seconds = run_probe(
        "setarch i686 \"$CROSSLAB_PAYLOADS\"/i686-linux/busybox uname -m",
        timeout=120,
    )
    check_outcome(
        "exec[1]@i686-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line="i686",
    )

with subtest("exec[1]@armv5tel-linux: a static armv5tel-linux binary runs (qemu CPU arm926); `uname -m` prints armv5tel"):
    status, output, seconds = run_probe(
        "QEMU_CPU=arm926 \"$CROSSLAB_PAYLOADS\"/armv5tel-linux/busybox uname -m",
        timeout=120,
    )
    check_outcome(
        "exec[1]@armv5tel-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line="armv5tel",
    )

with subtest("exec[1]@armv6l-linux: a static armv6l-linux binary runs (qemu CPU arm1176); `uname -m` prints armv6l"):
    status, output, seconds = run_probe(
        "QEMU_CPU=arm1176 \"$CROSSLAB_PAYLOADS\"/armv6l-linux/busybox uname -m",
        timeout=120,
    )
    check_outcome(
        "exec[1]@armv6l-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line="armv6l",
    )

with subtest("exec[1]@armv7l-linux: a static armv7l-linux binary runs (qemu CPU cortex-a15); `uname -m` prints armv7l"):
    status, output, seconds = run_probe(
        "QEMU_CPU=cortex-a15 \"$CROSSLAB_PAYLOADS\"/armv7l-linux/busybox uname -m",
        timeout=120,
    )
    check_outcome(
        "exec[1]@armv7l-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line="armv7l",
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

with subtest("exec[1]@riscv64-linux: a static riscv64-linux binary runs (qemu's default CPU); `uname -m` prints riscv64"):
    status, output, seconds = run_probe(
        "\"$CROSSLAB_PAYLOADS\"/riscv64-linux/busybox uname -m",
        timeout=120,
    )
    check_outcome(
        "exec[1]@riscv64-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line="riscv64",
    )

with subtest("exec[1]@s390x-linux: a static s390x-linux binary runs (qemu's default CPU); `uname -m` prints s390x"):
    status, output, seconds = run_probe(
        "\"$CROSSLAB_PAYLOADS\"/s390x-linux/busybox uname -m",
        timeout=120,
    )
    check_outcome(
        "exec[1]@s390x-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line="s390x",
    )

with subtest("exec[1]@powerpc64le-linux: a static powerpc64le-linux binary runs (qemu's default CPU); `uname -m` prints ppc64le"):
    status, output, seconds = run_probe(
        "\"$CROSSLAB_PAYLOADS\"/powerpc64le-linux/busybox uname -m",
        timeout=120,
    )
    check_outcome(
        "exec[1]@powerpc64le-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line="ppc64le",
    )

with subtest("exec[1]@mips64el-linux: a static mips64el-linux binary runs (qemu's default CPU); `uname -m` prints mips64"):
    status, output, seconds = run_probe(
        "\"$CROSSLAB_PAYLOADS\"/mips64el-linux/busybox uname -m",
        timeout=120,
    )
    check_outcome(
        "exec[1]@mips64el-linux",
        status,
        output,
        seconds,
        passes=True,
        contains=[],
        line="mips64",
    )

with subtest("exec[2]@armv6l-linux: a static armv7l-linux binary runs as armv6l-linux (qemu CPU arm1176); `uname -m` prints armv6l"):
    status, output, seconds = run_probe(
        "QEMU_CPU=arm1176 \"$CROSSLAB_PAYLOADS\"/armv7l-linux/busybox uname -m",
        timeout=120,
    )
    check_outcome(
        "exec[2]@armv6l-linux",
        status,
        output,
        seconds,
        passes=False,
        contains=["Illegal instruction"],
        line=None,
    )

finish()
