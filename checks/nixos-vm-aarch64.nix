# generated from labs/nixos-vm-aarch64.toml by `cargo xtask lab render`; do not edit
# The lab `nixos-vm-aarch64` as a NixOS test: one VM modelling a nixos host,
# every probe of `cargo xtask lab show nixos-vm-aarch64` run in it (checks/nixos-vm-aarch64.py).
{ pkgs }:
pkgs.testers.runNixOSTest {
  name = "nixos-vm-aarch64";
  meta.timeout = 1200;
  globalTimeout = 1200;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "NixOS with boot.binfmt.emulatedSystems = [\"aarch64-linux\"]: the entry, Nix's extra-platforms and sandbox paths, emulated execution and a sandboxed aarch64 build all work (the setup the seed notes on Nix cross compilation recommend)";
      crosslab.payloads = {
        "aarch64-linux" = pkgs.pkgsCross."aarch64-multiplatform".pkgsStatic.busybox;
      };
      crosslab.toolchains = {
        "aarch64-linux" = pkgs.pkgsCross."aarch64-multiplatform".gcc;
      };
      boot.binfmt.emulatedSystems = [ "aarch64-linux" ];
      nix.settings = {
        sandbox = true;
        extra-sandbox-paths = [ ];
        extra-platforms = [ ];
      };
    };

  # The script is checks/nixos-vm-aarch64.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./nixos-vm-aarch64.py;
}
