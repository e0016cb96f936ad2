# generated from labs/multiarch-uname.toml by `cargo xtask lab render`; do not edit
# The lab `multiarch-uname` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show multiarch-uname` run in it (checks/multiarch-uname.py).
{ pkgs }:
pkgs.testers.runNixOSTest {
  name = "multiarch-uname";
  meta.timeout = 2880;
  globalTimeout = 2880;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "What `uname -m` says under emulation, for every system of the multi-arch Docker matrix in the seed notes (python:3.9.19 on amd64, 386, arm/v5, arm/v6, arm/v7, arm64, riscv64, s390x, ppc64le, mips64le), qemu-user-static registered Debian-style; plus an ARMv7 binary on an ARMv6 CPU, which dies with an illegal instruction";
      crosslab.payloads = {
        "i686-linux" = pkgs.pkgsi686Linux.pkgsStatic.busybox;
        "armv5tel-linux" = pkgs.pkgsCross."sheevaplug".pkgsStatic.busybox;
        "armv6l-linux" = pkgs.pkgsCross."raspberryPi".pkgsStatic.busybox;
        "armv7l-linux" = pkgs.pkgsCross."armv7l-hf-multiplatform".pkgsStatic.busybox;
        "aarch64-linux" = pkgs.pkgsCross."aarch64-multiplatform".pkgsStatic.busybox;
        "riscv64-linux" = pkgs.pkgsCross."riscv64".pkgsStatic.busybox;
        "s390x-linux" = pkgs.pkgsCross."s390x".pkgsStatic.busybox;
        "powerpc64le-linux" = pkgs.pkgsCross."powernv".pkgsStatic.busybox;
        "mips64el-linux" = pkgs.pkgsCross."mips64el-linux-gnuabi64".pkgsStatic.busybox;
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
      };
    in
    "import json\ncrosslab_node = json.loads(${builtins.toJSON (builtins.toJSON node)})\n"
    + builtins.readFile ../modules/crosslab_probe.py
    + builtins.readFile ./multiarch-uname.py;
}
