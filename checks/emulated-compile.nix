# generated from labs/emulated-compile.toml by `cargo xtask lab render`; do not edit
# The lab `emulated-compile` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show emulated-compile` run in it (checks/emulated-compile.py).
# It is crossChecks.x86_64-linux.emulated-compile (xtask/src/render/closure.rs says why).
# From the NixOS binary cache: aarch64-linux gcc (native), i686-linux gcc (native), qemu-user (static).
# Fetched by hash: i686-linux busybox (Debian busybox-static, i386), aarch64-linux busybox (Debian busybox-static, arm64), armv7l-linux busybox (Debian busybox-static, armhf), riscv64-linux busybox (Debian busybox-static, riscv64), s390x-linux busybox (Debian busybox-static, s390x), powerpc64le-linux busybox (Debian busybox-static, ppc64el), mips64el-linux busybox (Debian busybox-static, mips64el).
# Built from source: armv7l-linux gcc (cross-built), mips64el-linux gcc (cross-built), powerpc64le-linux gcc (cross-built), riscv64-linux gcc (cross-built), s390x-linux gcc (cross-built), aarch64-linux cross gcc, armv7l-linux cross gcc, mips64el-linux cross gcc, powerpc64le-linux cross gcc, riscv64-linux cross gcc, s390x-linux cross gcc.
# pkgsOn: the package set that runs on a system, natively built (the
# flake's legacyPackages of the same nixpkgs).
{
  pkgs,
  pkgsOn ? system: import pkgs.path { inherit system; },
}:
pkgs.testers.runNixOSTest {
  name = "emulated-compile";
  # Room for every probe's timeout scaled for TCG, where KVM is missing.
  meta.timeout = 4800;
  globalTimeout = 4800;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "Emulated compilation on a Debian/Ubuntu-like host (FHS qemu-user-static, flags PF): for each system, Debian's native gcc, as and ld for that architecture run under emulation inside a sandboxed nix-build for the system, compile a C program, and the program says it was compiled for and runs as the target; the same program is also compiled with the host's cross gcc, and both times are reported (i686 runs natively, under the i686 personality Nix sets)";
      virtualisation.memorySize = 2048;
      crosslab.payloadDebs = {
        "i686-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_i386.deb"; sha256 = "725ef9e6fbac4ab79b353165b05005e8c140d6e42177ebbc202ff1e13ded8b7c"; };
        "aarch64-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_arm64.deb"; sha256 = "732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5"; };
        "armv7l-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_armhf.deb"; sha256 = "2f68dbeaebeda49f3cde34ac421d5add85fb1c837ff7c4a4971945340d9d66ff"; };
        "riscv64-linux" = { file = "pool/main/b/busybox/busybox-static_1.37.0-6+b9_riscv64.deb"; sha256 = "4add476d2b185c5b487c285b38d790f0881a7e4a8e2ddde835f917e770eb8633"; };
        "s390x-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_s390x.deb"; sha256 = "65e29a4dea3ca365e9ee73a6b4fa2a42c8cbbd3b13753250e68b4835876fe316"; };
        "powerpc64le-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_ppc64el.deb"; sha256 = "932deb885b840a8cf529708c03a1e87833dc64e66a70585721f8a356d9fe995b"; };
        "mips64el-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_mips64el.deb"; sha256 = "dccccdabb87cf616c950b72987116c0c5a4f3781e95dac4759899126ac7a285b"; };
      };
      crosslab.toolchains = {
        "aarch64-linux" = (pkgsOn "aarch64-linux").gcc;
        "armv7l-linux" = pkgs.pkgsCross."armv7l-hf-multiplatform".gcc;
        "i686-linux" = pkgs.pkgsi686Linux.gcc;
        "mips64el-linux" = pkgs.pkgsCross."mips64el-linux-gnuabi64".gcc;
        "powerpc64le-linux" = pkgs.pkgsCross."powernv".gcc;
        "riscv64-linux" = pkgs.pkgsCross."riscv64".gcc;
        "s390x-linux" = pkgs.pkgsCross."s390x".gcc;
      };
      crosslab.crossCompilers = {
        "aarch64-linux-gnu-gcc" = pkgs.pkgsCross."aarch64-multiplatform".stdenv.cc;
        "arm-linux-gnueabihf-gcc" = pkgs.pkgsCross."armv7l-hf-multiplatform".stdenv.cc;
        "mips64el-linux-gnuabi64-gcc" = pkgs.pkgsCross."mips64el-linux-gnuabi64".stdenv.cc;
        "powerpc64le-linux-gnu-gcc" = pkgs.pkgsCross."powernv".stdenv.cc;
        "riscv64-linux-gnu-gcc" = pkgs.pkgsCross."riscv64".stdenv.cc;
        "s390x-linux-gnu-gcc" = pkgs.pkgsCross."s390x".stdenv.cc;
      };
      crosslab.fhsEmulators = [ "aarch64" "arm" "riscv64" "s390x" "ppc64le" "mips64el" ];
      nix.settings = {
        sandbox = true;
        extra-sandbox-paths = [ ];
        extra-platforms = [ "i686-linux" "aarch64-linux" "armv7l-linux" "riscv64-linux" "s390x-linux" "powerpc64le-linux" "mips64el-linux" ];
      };
    };

  # The script is checks/emulated-compile.py; a JSON prelude hands it what it needs
  # to know about the node, and modules/crosslab_probe.py how to run a probe.
  testScript =
    { nodes, ... }:
    let
      node = {
        payloads_dir = nodes.machine.crosslab.payloadsDir;
        tcg_slowdown = 5;
        toolchains_dir = nodes.machine.crosslab.toolchainsDir;
      };
    in
    "import json\ncrosslab_node = json.loads(${builtins.toJSON (builtins.toJSON node)})\n"
    + builtins.readFile ../modules/crosslab_probe.py
    + builtins.readFile ./emulated-compile.py;
}
