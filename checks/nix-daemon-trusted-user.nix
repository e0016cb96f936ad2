# generated from labs/nix-daemon-trusted-user.toml by `cargo xtask lab render`; do not edit
# The lab `nix-daemon-trusted-user` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show nix-daemon-trusted-user` run in it (checks/nix-daemon-trusted-user.py).
# It is checks.x86_64-linux.nix-daemon-trusted-user (xtask/src/render/closure.rs says why).
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
  name = "nix-daemon-trusted-user";
  # Room for every probe's timeout scaled for TCG, where KVM is missing.
  meta.timeout = 1200;
  globalTimeout = 1200;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "Multi-user Nix with the probes' user in trusted-users: the daemon accepts the restricted setting the client passes (`--option extra-sandbox-paths /usr/bin/qemu-aarch64-static`), and the sandboxed aarch64 build of the default lab's setup passes. The fix for nix-daemon-untrusted-settings, as the \"add yourself to trusted-users\" answers give it";
      crosslab.payloadDebs = {
        "aarch64-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_arm64.deb"; sha256 = "732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5"; };
      };
      crosslab.fhsEmulators = [ "aarch64" ];
      nix.settings = {
        sandbox = true;
        extra-sandbox-paths = [ ];
        extra-platforms = [ "aarch64-linux" ];
      };
    };

  # The script is checks/nix-daemon-trusted-user.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./nix-daemon-trusted-user.py;
}
