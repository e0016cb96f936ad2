# generated from labs/self-exec-under-emulation.toml by `cargo xtask lab render`; do not edit
# The lab `self-exec-under-emulation` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show self-exec-under-emulation` run in it (checks/self-exec-under-emulation.py).
{ pkgs }:
pkgs.testers.runNixOSTest {
  name = "self-exec-under-emulation";
  meta.timeout = 960;
  globalTimeout = 960;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "A program that re-executes itself through /proc/self/exe with a new argv, as cargo-nextest's double-spawn does (the crane/nextest troubleshooting notes of the seed documents: \"Error while loading __double-spawn\" in emulated builds): under a binfmt_misc entry the child starts, also in a sandboxed emulated build; with qemu called directly and no entry (a test runner, hostPlatform.emulator) qemu hands the kernel the foreign binary and the child fails with \"Exec format error\"";
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

  # The script is checks/self-exec-under-emulation.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./self-exec-under-emulation.py;
}
