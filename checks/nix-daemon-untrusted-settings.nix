# generated from labs/nix-daemon-untrusted-settings.toml by `cargo xtask lab render`; do not edit
# The lab `nix-daemon-untrusted-settings` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show nix-daemon-untrusted-settings` run in it (checks/nix-daemon-untrusted-settings.py).
# It is none.x86_64-linux.nix-daemon-untrusted-settings (xtask/src/render/closure.rs says why).
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
  name = "nix-daemon-untrusted-settings";
  # Room for every probe's timeout scaled for TCG, where KVM is missing.
  meta.timeout = 3600;
  globalTimeout = 3600;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "Multi-user Nix, the default lab's setup (qemu-user-static without F, sandbox on): a user who is not in trusted-users passes the fix on the command line (`--option extra-sandbox-paths /usr/bin/qemu-aarch64-static`), and the daemon ignores the restricted setting, so the build still fails \"No such file or directory\" (Nix's own message: \"ignoring the client-specified setting 'sandbox-paths', because it is a restricted setting and you are not a trusted user\"; Nix 2.8 says it at debug level only, later versions warn). Written into nix.conf, the fix stays unseen until the daemon restarts";
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

  # The script is checks/nix-daemon-untrusted-settings.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./nix-daemon-untrusted-settings.py;
}
