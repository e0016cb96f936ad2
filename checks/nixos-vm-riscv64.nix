# generated from labs/nixos-vm-riscv64.toml by `cargo xtask lab render`; do not edit
# The lab `nixos-vm-riscv64` as a NixOS test: one VM modelling a nixos host,
# every probe of `cargo xtask lab show nixos-vm-riscv64` run in it (checks/nixos-vm-riscv64.py).
# It is crossChecks.x86_64-linux.nixos-vm-riscv64 (xtask/src/render/closure.rs says why).
# From the NixOS binary cache: qemu-user.
# Fetched by hash: riscv64-linux busybox (Debian busybox-static, riscv64).
# Built from source: riscv64-linux gcc (cross-built), qemu-riscv64-binfmt-P wrapper, riscv64-linux cross gcc.
# pkgsOn: the package set that runs on a system, natively built (the
# flake's legacyPackages of the same nixpkgs).
{
  pkgs,
  pkgsOn ? system: import pkgs.path { inherit system; },
}:
pkgs.testers.runNixOSTest {
  name = "nixos-vm-riscv64";
  # Room for every probe's timeout scaled for TCG, where KVM is missing.
  meta.timeout = 3600;
  globalTimeout = 3600;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "NixOS with boot.binfmt.emulatedSystems = [\"riscv64-linux\"]: the entry, Nix's extra-platforms and sandbox paths, emulated execution and a sandboxed riscv64 build all work; the riscv64 payload is Debian's busybox-static, fetched by hash; the compile probe's riscv64 gcc (pkgsCross.riscv64.gcc) is cross-compiled on the x86_64 host that builds the check, not in the VM, since the NixOS binary cache has no pkgsCross toolchains, so the rendered check is the opt-in crossChecks.x86_64-linux.nixos-vm-riscv64";
      virtualisation.memorySize = 2048;
      crosslab.payloadDebs = {
        "riscv64-linux" = { file = "pool/main/b/busybox/busybox-static_1.37.0-6+b9_riscv64.deb"; sha256 = "4add476d2b185c5b487c285b38d790f0881a7e4a8e2ddde835f917e770eb8633"; };
      };
      crosslab.toolchains = {
        "riscv64-linux" = pkgs.pkgsCross."riscv64".gcc;
      };
      crosslab.crossCompilers = {
        "riscv64-linux-gnu-gcc" = pkgs.pkgsCross."riscv64".stdenv.cc;
      };
      boot.binfmt.emulatedSystems = [ "riscv64-linux" ];
      nix.settings = {
        sandbox = true;
        extra-sandbox-paths = [ ];
        extra-platforms = [ ];
      };
    };

  # The script is checks/nixos-vm-riscv64.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./nixos-vm-riscv64.py;
}
