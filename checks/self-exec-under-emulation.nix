# generated from labs/self-exec-under-emulation.toml by `cargo xtask lab render`; do not edit
# The lab `self-exec-under-emulation` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show self-exec-under-emulation` run in it (checks/self-exec-under-emulation.py).
# It is checks.x86_64-linux.self-exec-under-emulation (xtask/src/render/closure.rs says why).
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
  name = "self-exec-under-emulation";
  # Room for every probe's timeout scaled for TCG, where KVM is missing.
  meta.timeout = 2400;
  globalTimeout = 2400;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "A program that re-executes itself through /proc/self/exe with a new argv, as cargo-nextest's double-spawn does (the crane/nextest troubleshooting notes of the seed documents: \"Error while loading __double-spawn\" in emulated builds): under a binfmt_misc entry the child starts, also in a sandboxed emulated build; with qemu called directly and no entry (a test runner, hostPlatform.emulator) qemu hands the kernel the foreign binary and the child fails with \"Exec format error\"";
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

  # The script is checks/self-exec-under-emulation.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./self-exec-under-emulation.py;
}
