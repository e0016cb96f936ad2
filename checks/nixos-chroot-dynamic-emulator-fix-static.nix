# generated from labs/nixos-chroot-dynamic-emulator-fix-static.toml by `cargo xtask lab render`; do not edit
# The lab `nixos-chroot-dynamic-emulator-fix-static` as a NixOS test: one VM modelling a nixos host,
# every probe of `cargo xtask lab show nixos-chroot-dynamic-emulator-fix-static` run in it (checks/nixos-chroot-dynamic-emulator-fix-static.py).
{ pkgs }:
pkgs.testers.runNixOSTest {
  name = "nixos-chroot-dynamic-emulator-fix-static";
  meta.timeout = 840;
  globalTimeout = 840;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "The fix of nixos-chroot-dynamic-emulator (nixpkgs#160300, PR #334859): boot.binfmt.preferStaticEmulators = true registers the static qemu with flags PF, so the kernel holds a self-contained emulator open and a static aarch64 binary runs in a chroot holding only itself";
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

  # The script is checks/nixos-chroot-dynamic-emulator-fix-static.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./nixos-chroot-dynamic-emulator-fix-static.py;
}
