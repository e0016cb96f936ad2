# generated from labs/non-nixos-aarch64-no-sandbox.toml by `cargo xtask lab render`; do not edit
# The lab `non-nixos-aarch64-no-sandbox` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show non-nixos-aarch64-no-sandbox` run in it (checks/non-nixos-aarch64-no-sandbox.py).
# It is checks.x86_64-linux.non-nixos-aarch64-no-sandbox (xtask/src/render/closure.rs says why).
# From the NixOS binary cache: aarch64-linux gcc (native), qemu-user (static).
# Fetched by hash: aarch64-linux busybox (Debian busybox-static, arm64).
# Built from source: nothing.
# pkgsOn: the package set that runs on a system, natively built (the
# flake's legacyPackages of the same nixpkgs).
{
  pkgs,
  pkgsOn ? system: import pkgs.path { inherit system; },
}:
pkgs.testers.runNixOSTest {
  name = "non-nixos-aarch64-no-sandbox";
  # Room for every probe's timeout scaled for TCG, where KVM is missing.
  meta.timeout = 2400;
  globalTimeout = 2400;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "Fix 3 for non-nixos-aarch64 (the blunt one): turn the Nix sandbox off, so builds see /usr/bin; works, at the price of impure builds (NixOS Discourse t/10750; nixpkgs#33553)";
      virtualisation.memorySize = 2048;
      crosslab.payloadDebs = {
        "aarch64-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_arm64.deb"; sha256 = "732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5"; };
      };
      crosslab.toolchains = {
        "aarch64-linux" = (pkgsOn "aarch64-linux").gcc;
      };
      # No cross compiler for aarch64-linux: the compile probes report the emulated time alone.
      # nixpkgs' cross gcc (pkgsCross.<x>.stdenv.cc) is no job of pkgs/top-level/release.nix,
      # so under `checks` it would be built from source; a check under crossChecks has it
      # on PATH as <triple>-gcc and times both, as `lab run` does with Debian's.
      crosslab.fhsEmulators = [ "aarch64" ];
      nix.settings = {
        sandbox = false;
        extra-sandbox-paths = [ ];
        extra-platforms = [ "aarch64-linux" ];
      };
    };

  # The script is checks/non-nixos-aarch64-no-sandbox.py; a JSON prelude hands it what it needs
  # to know about the node, and modules/crosslab_probe.py how to run a probe.
  testScript =
    { nodes, ... }:
    let
      node = {
        payloads_dir = nodes.machine.crosslab.payloadsDir;
        tcg_slowdown = 5;
        toolchains_dir = nodes.machine.crosslab.toolchainsDir;
      };
    in
    "import json\ncrosslab_node = json.loads(${builtins.toJSON (builtins.toJSON node)})\n"
    + builtins.readFile ../modules/crosslab_probe.py
    + builtins.readFile ./non-nixos-aarch64-no-sandbox.py;
}
