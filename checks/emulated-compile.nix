# generated from labs/emulated-compile.toml by `cargo xtask lab render`; do not edit
# The lab `emulated-compile` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show emulated-compile` run in it (checks/emulated-compile.py).
{ pkgs }:
pkgs.testers.runNixOSTest {
  name = "emulated-compile";
  meta.timeout = 1440;
  globalTimeout = 1440;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "Emulated compilation on a Debian/Ubuntu-like host (FHS qemu-user-static, flags PF): for each system, Debian's native gcc, as and ld for that architecture run under emulation inside a sandboxed nix-build for the system, compile a C program, and the program says it was compiled for and runs as the target; the same program is also compiled with the host's cross gcc, and both times are reported (i686 runs natively, under the i686 personality Nix sets)";
      crosslab.payloads = {
        "i686-linux" = pkgs.pkgsi686Linux.pkgsStatic.busybox;
        "aarch64-linux" = pkgs.pkgsCross."aarch64-multiplatform".pkgsStatic.busybox;
        "armv7l-linux" = pkgs.pkgsCross."armv7l-hf-multiplatform".pkgsStatic.busybox;
        "riscv64-linux" = pkgs.pkgsCross."riscv64".pkgsStatic.busybox;
        "s390x-linux" = pkgs.pkgsCross."s390x".pkgsStatic.busybox;
        "powerpc64le-linux" = pkgs.pkgsCross."powernv".pkgsStatic.busybox;
        "mips64el-linux" = pkgs.pkgsCross."mips64el-linux-gnuabi64".pkgsStatic.busybox;
      };
      crosslab.toolchains = {
        "aarch64-linux" = pkgs.pkgsCross."aarch64-multiplatform".gcc;
        "armv7l-linux" = pkgs.pkgsCross."armv7l-hf-multiplatform".gcc;
        "i686-linux" = pkgs.pkgsi686Linux.gcc;
        "mips64el-linux" = pkgs.pkgsCross."mips64el-linux-gnuabi64".gcc;
        "powerpc64le-linux" = pkgs.pkgsCross."powernv".gcc;
        "riscv64-linux" = pkgs.pkgsCross."riscv64".gcc;
        "s390x-linux" = pkgs.pkgsCross."s390x".gcc;
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
        toolchains_dir = nodes.machine.crosslab.toolchainsDir;
      };
    in
    "import json\ncrosslab_node = json.loads(${builtins.toJSON (builtins.toJSON node)})\n"
    + builtins.readFile ../modules/crosslab_probe.py
    + builtins.readFile ./emulated-compile.py;
}
