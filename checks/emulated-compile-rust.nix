# generated from labs/emulated-compile-rust.toml by `cargo xtask lab render`; do not edit
# The lab `emulated-compile-rust` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show emulated-compile-rust` run in it (checks/emulated-compile-rust.py).
{ pkgs }:
pkgs.testers.runNixOSTest {
  name = "emulated-compile-rust";
  meta.timeout = 1200;
  globalTimeout = 1200;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "Emulated Rust compilation on a Debian/Ubuntu-like host (FHS qemu-user-static, flags PF): Debian's rustc for each system, under emulation inside a sandboxed nix-build for the system, compiles a small crate offline (linking through the target's gcc) and the program says it was compiled for and runs as the target";
      crosslab.payloads = {
        "aarch64-linux" = pkgs.pkgsCross."aarch64-multiplatform".pkgsStatic.busybox;
        "riscv64-linux" = pkgs.pkgsCross."riscv64".pkgsStatic.busybox;
      };
      crosslab.toolchains = {
        "aarch64-linux-rust" = pkgs.symlinkJoin { name = "crosslab-rust-aarch64-linux"; paths = [ pkgs.pkgsCross."aarch64-multiplatform".rustc pkgs.pkgsCross."aarch64-multiplatform".gcc ]; };
        "riscv64-linux-rust" = pkgs.symlinkJoin { name = "crosslab-rust-riscv64-linux"; paths = [ pkgs.pkgsCross."riscv64".rustc pkgs.pkgsCross."riscv64".gcc ]; };
      };
      crosslab.fhsEmulators = [ "aarch64" "riscv64" ];
      nix.settings = {
        sandbox = true;
        extra-sandbox-paths = [ ];
        extra-platforms = [ "aarch64-linux" "riscv64-linux" ];
      };
    };

  # The script is checks/emulated-compile-rust.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./emulated-compile-rust.py;
}
