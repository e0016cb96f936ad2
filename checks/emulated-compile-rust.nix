# generated from labs/emulated-compile-rust.toml by `cargo xtask lab render`; do not edit
# The lab `emulated-compile-rust` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show emulated-compile-rust` run in it (checks/emulated-compile-rust.py).
# It is crossChecks.x86_64-linux.emulated-compile-rust (xtask/src/render/closure.rs says why).
# From the NixOS binary cache: aarch64-linux rustc and gcc (native), qemu-user (static).
# Fetched by hash: aarch64-linux busybox (Debian busybox-static, arm64), riscv64-linux busybox (Debian busybox-static, riscv64).
# Built from source: riscv64-linux rustc and gcc (cross-built).
# pkgsOn: the package set that runs on a system, natively built (the
# flake's legacyPackages of the same nixpkgs).
{
  pkgs,
  pkgsOn ? system: import pkgs.path { inherit system; },
}:
pkgs.testers.runNixOSTest {
  name = "emulated-compile-rust";
  # Room for every probe's timeout scaled for TCG, where KVM is missing.
  meta.timeout = 3600;
  globalTimeout = 3600;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "Emulated Rust compilation on a Debian/Ubuntu-like host (FHS qemu-user-static, flags PF): Debian's rustc for each system, under emulation inside a sandboxed nix-build for the system, compiles a small crate offline (linking through the target's gcc) and the program says it was compiled for and runs as the target";
      virtualisation.memorySize = 4096;
      crosslab.payloadDebs = {
        "aarch64-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_arm64.deb"; sha256 = "732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5"; };
        "riscv64-linux" = { file = "pool/main/b/busybox/busybox-static_1.37.0-6+b9_riscv64.deb"; sha256 = "4add476d2b185c5b487c285b38d790f0881a7e4a8e2ddde835f917e770eb8633"; };
      };
      crosslab.toolchains = {
        "aarch64-linux-rust" = pkgs.symlinkJoin { name = "crosslab-rust-aarch64-linux"; paths = [ (pkgsOn "aarch64-linux").rustc (pkgsOn "aarch64-linux").gcc ]; };
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
        tcg_slowdown = 5;
        toolchains_dir = nodes.machine.crosslab.toolchainsDir;
      };
    in
    "import json\ncrosslab_node = json.loads(${builtins.toJSON (builtins.toJSON node)})\n"
    + builtins.readFile ../modules/crosslab_probe.py
    + builtins.readFile ./emulated-compile-rust.py;
}
