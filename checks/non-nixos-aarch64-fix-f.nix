# generated from labs/non-nixos-aarch64-fix-f.toml by `cargo xtask lab render`; do not edit
# The lab `non-nixos-aarch64-fix-f` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show non-nixos-aarch64-fix-f` run in it (checks/non-nixos-aarch64-fix-f.py).
{ pkgs }:
pkgs.testers.runNixOSTest {
  name = "non-nixos-aarch64-fix-f";
  meta.timeout = 960;
  globalTimeout = 960;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "Fix 2 for non-nixos-aarch64: register with the F flag, so the kernel opens the interpreter at registration and the sandbox needs no path to it (NixOS Discourse t/10750; nixpkgs#33553)";
      crosslab.payloads = {
        "aarch64-linux" = pkgs.pkgsCross."aarch64-multiplatform".pkgsStatic.busybox;
      };
      crosslab.toolchains = {
        "aarch64-linux" = pkgs.pkgsCross."aarch64-multiplatform".gcc;
      };
      crosslab.fhsEmulators = [ "aarch64" ];
      nix.settings = {
        sandbox = true;
        extra-sandbox-paths = [ ];
        extra-platforms = [ "aarch64-linux" ];
      };
    };

  # The script is checks/non-nixos-aarch64-fix-f.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./non-nixos-aarch64-fix-f.py;
}
