# generated from labs/nixpkgs-61537-laptop.toml by `cargo xtask lab render`; do not edit
# The lab `nixpkgs-61537-laptop` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show nixpkgs-61537-laptop` run in it (checks/nixpkgs-61537-laptop.py).
# It is checks.x86_64-linux.nixpkgs-61537-laptop (xtask/src/render/closure.rs says why).
# From the NixOS binary cache: qemu-user (static).
# Fetched by hash: x86_64-linux busybox (Debian busybox-static, amd64), aarch64-linux busybox (Debian busybox-static, arm64).
# Built from source: nothing.
# pkgsOn: the package set that runs on a system, natively built (the
# flake's legacyPackages of the same nixpkgs).
{
  pkgs,
  pkgsOn ? system: import pkgs.path { inherit system; },
}:
pkgs.testers.runNixOSTest {
  name = "nixpkgs-61537-laptop";
  # Room for every probe's timeout scaled for TCG, where KVM is missing.
  meta.timeout = 1200;
  globalTimeout = 1200;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "nixpkgs#61537 on the laptop: an x86_64-linux build runs an aarch64 program and passes, only because qemu-aarch64 is registered on the host with F";
      crosslab.payloadDebs = {
        "x86_64-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb"; sha256 = "3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744"; };
        "aarch64-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_arm64.deb"; sha256 = "732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5"; };
      };
      crosslab.fhsEmulators = [ "aarch64" ];
      nix.settings = {
        sandbox = true;
        extra-sandbox-paths = [ ];
        extra-platforms = [ "x86_64-linux" ];
      };
    };

  # The script is checks/nixpkgs-61537-laptop.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./nixpkgs-61537-laptop.py;
}
