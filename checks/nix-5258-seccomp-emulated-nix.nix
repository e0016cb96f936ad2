# generated from labs/nix-5258-seccomp-emulated-nix.toml by `cargo xtask lab render`; do not edit
# The lab `nix-5258-seccomp-emulated-nix` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show nix-5258-seccomp-emulated-nix` run in it (checks/nix-5258-seccomp-emulated-nix.py).
# It is none.x86_64-linux.nix-5258-seccomp-emulated-nix (xtask/src/render/closure.rs says why).
# From the NixOS binary cache: qemu-user (static).
# Fetched by hash: aarch64-linux busybox (Debian busybox-static, arm64).
# Built from source: nothing.
# pkgsOn: the package set that runs on a system, natively built (the
# flake's legacyPackages of the same nixpkgs).
{
  pkgs,
  pkgsOn ? system: import pkgs.path { inherit system; },
}:
pkgs.testers.runNixOSTest {
  name = "nix-5258-seccomp-emulated-nix";
  # Room for every probe's timeout scaled for TCG, where KVM is missing.
  meta.timeout = 1200;
  globalTimeout = 1200;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "nix#5258: Nix itself running under qemu-user (an aarch64 Nix in an emulated container) with build users cannot load its seccomp filter: \"unable to load seccomp BPF program: Invalid argument\". Here the lab's nix-daemon is Debian's aarch64 nix-bin run by qemu-aarch64-static, building as the nixbld users, with the sandbox off (with it on, qemu-user refuses the sandbox's namespaces first: \"cloning builder process: Invalid argument\")";
      crosslab.payloadDebs = {
        "aarch64-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_arm64.deb"; sha256 = "732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5"; };
      };
      crosslab.fhsEmulators = [ "aarch64" ];
      nix.settings = {
        sandbox = false;
        extra-sandbox-paths = [ ];
        extra-platforms = [ "aarch64-linux" ];
      };
    };

  # The script is checks/nix-5258-seccomp-emulated-nix.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./nix-5258-seccomp-emulated-nix.py;
}
