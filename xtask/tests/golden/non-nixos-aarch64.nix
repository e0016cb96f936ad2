# generated from labs/non-nixos-aarch64.toml by `cargo xtask lab render`; do not edit
# The lab `non-nixos-aarch64` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show non-nixos-aarch64` run in it (checks/non-nixos-aarch64.py).
{ pkgs }:
pkgs.testers.runNixOSTest {
  name = "non-nixos-aarch64";
  meta.timeout = 1200;
  globalTimeout = 1200;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "Debian/Ubuntu host, qemu-user-static registered without the F flag, Nix sandbox on: the sandboxed aarch64 build cannot see /usr/bin/qemu-aarch64-static (NixOS Discourse t/10750 \"Issue building with qemu binfmt on non-NixOS\"; nixpkgs#33553)";
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

  # The script is checks/non-nixos-aarch64.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./non-nixos-aarch64.py;
}
