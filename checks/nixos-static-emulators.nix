# generated from labs/nixos-static-emulators.toml by `cargo xtask lab render`; do not edit
# The lab `nixos-static-emulators` as a NixOS test: one VM modelling a nixos host,
# every probe of `cargo xtask lab show nixos-static-emulators` run in it (checks/nixos-static-emulators.py).
{ pkgs }:
pkgs.testers.runNixOSTest {
  name = "nixos-static-emulators";
  meta.timeout = 960;
  globalTimeout = 960;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "NixOS with boot.binfmt.preferStaticEmulators = true: /run/binfmt/aarch64-linux is the static qemu (pkgsStatic.qemu-user) itself, no wrapper, registered with flags PF; the kernel opens it at registration, so neither a chroot nor the sandbox needs to contain it (NixOS still puts /run/binfmt and the emulator in extra-sandbox-paths)";
      crosslab.payloads = {
        "aarch64-linux" = pkgs.pkgsCross."aarch64-multiplatform".pkgsStatic.busybox;
      };
      boot.binfmt.emulatedSystems = [ "aarch64-linux" ];
      boot.binfmt.preferStaticEmulators = true;
      nix.settings = {
        sandbox = true;
        extra-sandbox-paths = [ ];
        extra-platforms = [ ];
      };
    };

  # The script is checks/nixos-static-emulators.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./nixos-static-emulators.py;
}
