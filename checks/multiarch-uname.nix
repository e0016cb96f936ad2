# generated from labs/multiarch-uname.toml by `cargo xtask lab render`; do not edit
# The lab `multiarch-uname` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show multiarch-uname` run in it (checks/multiarch-uname.py).
# It is checks.x86_64-linux.multiarch-uname (xtask/src/render/closure.rs says why).
# From the NixOS binary cache: qemu-user (static).
# Fetched by hash: i686-linux busybox (Debian busybox-static, i386), armv5tel-linux busybox (Debian busybox-static, armel), armv6l-linux busybox (Debian busybox-static, armel), armv7l-linux busybox (Debian busybox-static, armhf), aarch64-linux busybox (Debian busybox-static, arm64), riscv64-linux busybox (Debian busybox-static, riscv64), s390x-linux busybox (Debian busybox-static, s390x), powerpc64le-linux busybox (Debian busybox-static, ppc64el), mips64el-linux busybox (Debian busybox-static, mips64el).
# Built from source: nothing.
# pkgsOn: the package set that runs on a system, natively built (the
# flake's legacyPackages of the same nixpkgs).
{
  pkgs,
  pkgsOn ? system: import pkgs.path { inherit system; },
}:
pkgs.testers.runNixOSTest {
  name = "multiarch-uname";
  # Room for every probe's timeout scaled for TCG, where KVM is missing.
  meta.timeout = 12000;
  globalTimeout = 12000;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "What `uname -m` says under emulation, for every system of the multi-arch Docker matrix in the seed notes (python:3.9.19 on amd64, 386, arm/v5, arm/v6, arm/v7, arm64, riscv64, s390x, ppc64le, mips64le), qemu-user-static registered Debian-style; plus an ARMv7 binary on an ARMv6 CPU, which dies with an illegal instruction";
      crosslab.payloadDebs = {
        "i686-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_i386.deb"; sha256 = "725ef9e6fbac4ab79b353165b05005e8c140d6e42177ebbc202ff1e13ded8b7c"; };
        "armv5tel-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_armel.deb"; sha256 = "061813bf602fdec8f81f07afd196a0e1b8ab0223fbbe9d7b4e003ee44130a60f"; };
        "armv6l-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_armel.deb"; sha256 = "061813bf602fdec8f81f07afd196a0e1b8ab0223fbbe9d7b4e003ee44130a60f"; };
        "armv7l-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_armhf.deb"; sha256 = "2f68dbeaebeda49f3cde34ac421d5add85fb1c837ff7c4a4971945340d9d66ff"; };
        "aarch64-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_arm64.deb"; sha256 = "732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5"; };
        "riscv64-linux" = { file = "pool/main/b/busybox/busybox-static_1.37.0-6+b9_riscv64.deb"; sha256 = "4add476d2b185c5b487c285b38d790f0881a7e4a8e2ddde835f917e770eb8633"; };
        "s390x-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_s390x.deb"; sha256 = "65e29a4dea3ca365e9ee73a6b4fa2a42c8cbbd3b13753250e68b4835876fe316"; };
        "powerpc64le-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_ppc64el.deb"; sha256 = "932deb885b840a8cf529708c03a1e87833dc64e66a70585721f8a356d9fe995b"; };
        "mips64el-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_mips64el.deb"; sha256 = "dccccdabb87cf616c950b72987116c0c5a4f3781e95dac4759899126ac7a285b"; };
      };
      crosslab.fhsEmulators = [ "arm" "aarch64" "riscv64" "s390x" "ppc64le" "mips64el" ];
      nix.settings = {
        sandbox = true;
        extra-sandbox-paths = [ ];
        extra-platforms = [ "i686-linux" "armv5tel-linux" "armv6l-linux" "armv7l-linux" "aarch64-linux" "riscv64-linux" "s390x-linux" "powerpc64le-linux" "mips64el-linux" ];
      };
    };

  # The script is checks/multiarch-uname.py; a JSON prelude hands it what it needs
  # to know about the node, and modules/crosslab_probe.py how to run a probe.
  testScript =
    { nodes, ... }:
    let
      node = {
        payloads_dir = nodes.machine.crosslab.payloadsDir;
        tcg_slowdown = 5;
      };
    in
    "import json\ncrosslab_node = json.loads(${builtins.toJSON (builtins.toJSON node)})\n"
    + builtins.readFile ../modules/crosslab_probe.py
    + builtins.readFile ./multiarch-uname.py;
}
