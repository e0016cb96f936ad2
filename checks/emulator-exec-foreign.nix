# generated from labs/emulator-exec-foreign.toml by `cargo xtask lab render`; do not edit
# The lab `emulator-exec-foreign` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show emulator-exec-foreign` run in it (checks/emulator-exec-foreign.py).
{ pkgs }:
pkgs.testers.runNixOSTest {
  name = "emulator-exec-foreign";
  meta.timeout = 840;
  globalTimeout = 840;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "A foreign program started by calling qemu directly, as stdenv.hostPlatform.emulator does, cannot start another foreign program while binfmt_misc does not know the system: \"Exec format error\" (nixpkgs#119885); once the system is registered it can";
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

  # The script is checks/emulator-exec-foreign.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./emulator-exec-foreign.py;
}
