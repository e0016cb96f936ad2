# generated from labs/extra-platforms-unregistered.toml by `cargo xtask lab render`; do not edit
# The lab `extra-platforms-unregistered` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show extra-platforms-unregistered` run in it (checks/extra-platforms-unregistered.py).
{ pkgs }:
pkgs.testers.runNixOSTest {
  name = "extra-platforms-unregistered";
  meta.timeout = 1080;
  globalTimeout = 1080;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "Nix is told it can build aarch64-linux (extra-platforms) but nothing is registered with binfmt_misc: builds die with \"Exec format error\", the message of nixos-generators#202";
      crosslab.payloads = {
        "aarch64-linux" = pkgs.pkgsCross."aarch64-multiplatform".pkgsStatic.busybox;
      };
      crosslab.fhsEmulators = [ "aarch64" ];
      nix.settings = {
        sandbox = true;
        extra-sandbox-paths = [ ];
        extra-platforms = [ "aarch64-linux" ];
      };
    };

  # The script is checks/extra-platforms-unregistered.py; a JSON prelude hands it what it needs
  # to know about the node, and modules/crosslab_probe.py how to run a probe.
  testScript =
    { nodes, ... }:
    let
      node = {
        payloads_dir = nodes.machine.crosslab.payloadsDir;
      };
    in
    "import json\ncrosslab_node = json.loads(${builtins.toJSON (builtins.toJSON node)})\n"
    + builtins.readFile ../modules/crosslab_probe.py
    + builtins.readFile ./extra-platforms-unregistered.py;
}
