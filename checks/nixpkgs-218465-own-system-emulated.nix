# generated from labs/nixpkgs-218465-own-system-emulated.toml by `cargo xtask lab render`; do not edit
# The lab `nixpkgs-218465-own-system-emulated` as a NixOS test: one VM modelling a nixos host,
# every probe of `cargo xtask lab show nixpkgs-218465-own-system-emulated` run in it (checks/nixpkgs-218465-own-system-emulated.py).
# It is none.x86_64-linux.nixpkgs-218465-own-system-emulated (xtask/src/render/closure.rs says why).
# From the NixOS binary cache: nothing.
# Fetched by hash: x86_64-linux busybox (Debian busybox-static, amd64).
# Built from source: nothing.
# pkgsOn: the package set that runs on a system, natively built (the
# flake's legacyPackages of the same nixpkgs).
{
  pkgs,
  pkgsOn ? system: import pkgs.path { inherit system; },
}:
pkgs.testers.runNixOSTest {
  name = "nixpkgs-218465-own-system-emulated";
  # Room for every probe's timeout scaled for TCG, where KVM is missing.
  meta.timeout = 1200;
  globalTimeout = 1200;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "NixOS before 24.05 had no assertion against the host's own system in emulatedSystems: x86_64-linux on an x86_64 host is registered with the module's shell wrapper for x86_64 ELF, every native exec goes through binfmt_misc again until the kernel gives up, \"Too many levels of symbolic links\" (nixpkgs#218465, #239806; 24.05 and later refuse it in `lab check`)";
      crosslab.payloadDebs = {
        "x86_64-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb"; sha256 = "3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744"; };
      };
      nix.settings = {
        sandbox = true;
        extra-sandbox-paths = [ ];
        extra-platforms = [ "x86_64-linux" ];
      };
    };

  # The script is checks/nixpkgs-218465-own-system-emulated.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./nixpkgs-218465-own-system-emulated.py;
}
