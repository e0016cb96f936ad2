# generated from labs/nix-community-infra-1916-system-feature.toml by `cargo xtask lab render`; do not edit
# The lab `nix-community-infra-1916-system-feature` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show nix-community-infra-1916-system-feature` run in it (checks/nix-community-infra-1916-system-feature.py).
# It is checks.x86_64-linux.nix-community-infra-1916-system-feature (xtask/src/render/closure.rs says why).
# From the NixOS binary cache: qemu-user (static).
# Fetched by hash: armv7l-linux busybox (Debian busybox-static, armhf).
# Built from source: nothing.
# pkgsOn: the package set that runs on a system, natively built (the
# flake's legacyPackages of the same nixpkgs).
{
  pkgs,
  pkgsOn ? system: import pkgs.path { inherit system; },
}:
pkgs.testers.runNixOSTest {
  name = "nix-community-infra-1916-system-feature";
  # Room for every probe's timeout scaled for TCG, where KVM is missing.
  meta.timeout = 1200;
  globalTimeout = 1200;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "nix-community/infra#1916: armv7l-linux is among Nix's platforms, but the build requires the system feature gccarch-armv7-a, which the builder does not offer";
      crosslab.payloadDebs = {
        "armv7l-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_armhf.deb"; sha256 = "2f68dbeaebeda49f3cde34ac421d5add85fb1c837ff7c4a4971945340d9d66ff"; };
      };
      crosslab.fhsEmulators = [ "arm" ];
      nix.settings = {
        sandbox = true;
        extra-sandbox-paths = [ ];
        extra-platforms = [ "armv7l-linux" ];
        system-features = [ "big-parallel" ];
      };
    };

  # The script is checks/nix-community-infra-1916-system-feature.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./nix-community-infra-1916-system-feature.py;
}
