# generated from labs/nixos-wsl-552-run-binfmt-missing.toml by `cargo xtask lab render`; do not edit
# The lab `nixos-wsl-552-run-binfmt-missing` as a NixOS test: one VM modelling a nixos host,
# every probe of `cargo xtask lab show nixos-wsl-552-run-binfmt-missing` run in it (checks/nixos-wsl-552-run-binfmt-missing.py).
# It is checks.x86_64-linux.nixos-wsl-552-run-binfmt-missing (xtask/src/render/closure.rs says why).
# From the NixOS binary cache: qemu-user (static).
# Fetched by hash: aarch64-linux busybox (Debian busybox-static, arm64).
# Built from source: nothing.
# pkgsOn: the package set that runs on a system, natively built (the
# flake's legacyPackages of the same nixpkgs).
{
  pkgs,
  pkgsOn ? system: import pkgs.path { inherit system; },
}:
pkgs.testers.runNixOSTest {
  name = "nixos-wsl-552-run-binfmt-missing";
  # Room for every probe's timeout scaled for TCG, where KVM is missing.
  meta.timeout = 1200;
  globalTimeout = 1200;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "nix-community/NixOS-WSL#552: /run/binfmt is gone while NixOS's sandbox paths still name it, so every sandboxed build fails";
      crosslab.payloadDebs = {
        "aarch64-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_arm64.deb"; sha256 = "732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5"; };
      };
      boot.binfmt.emulatedSystems = [ "aarch64-linux" ];
      boot.binfmt.preferStaticEmulators = true;
      nix.settings = {
        sandbox = true;
        extra-sandbox-paths = [ ];
        extra-platforms = [ ];
      };
    };

  # The script is checks/nixos-wsl-552-run-binfmt-missing.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./nixos-wsl-552-run-binfmt-missing.py;
}
