# generated from labs/nixos-vm-riscv64.toml by `cargo xtask lab render`; do not edit
# The lab `nixos-vm-riscv64` as a NixOS test: one VM modelling a nixos host,
# every probe of `cargo xtask lab show nixos-vm-riscv64` run in it (checks/nixos-vm-riscv64.py).
{ pkgs }:
pkgs.testers.runNixOSTest {
  name = "nixos-vm-riscv64";
  meta.timeout = 1200;
  globalTimeout = 1200;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "NixOS with boot.binfmt.emulatedSystems = [\"riscv64-linux\"]: the entry, Nix's extra-platforms and sandbox paths, emulated execution and a sandboxed riscv64 build all work; the riscv64 payload (pkgsCross.riscv64.pkgsStatic.busybox) is cross-compiled on the x86_64 host that builds the check, not in the VM: the NixOS binary cache has almost no pkgsCross binaries";
      crosslab.payloads = {
        "riscv64-linux" = pkgs.pkgsCross."riscv64".pkgsStatic.busybox;
      };
      crosslab.toolchains = {
        "riscv64-linux" = pkgs.pkgsCross."riscv64".gcc;
      };
      boot.binfmt.emulatedSystems = [ "riscv64-linux" ];
      nix.settings = {
        sandbox = true;
        extra-sandbox-paths = [ ];
        extra-platforms = [ ];
      };
    };

  # The script is checks/nixos-vm-riscv64.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./nixos-vm-riscv64.py;
}
