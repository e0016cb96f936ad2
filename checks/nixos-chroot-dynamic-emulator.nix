# generated from labs/nixos-chroot-dynamic-emulator.toml by `cargo xtask lab render`; do not edit
# The lab `nixos-chroot-dynamic-emulator` as a NixOS test: one VM modelling a nixos host,
# every probe of `cargo xtask lab show nixos-chroot-dynamic-emulator` run in it (checks/nixos-chroot-dynamic-emulator.py).
# It is checks.x86_64-linux.nixos-chroot-dynamic-emulator (xtask/src/render/closure.rs says why).
# From the NixOS binary cache: qemu-user, qemu-aarch64-binfmt-P wrapper.
# Fetched by hash: aarch64-linux busybox (Debian busybox-static, arm64).
# Built from source: nothing.
# pkgsOn: the package set that runs on a system, natively built (the
# flake's legacyPackages of the same nixpkgs).
{
  pkgs,
  pkgsOn ? system: import pkgs.path { inherit system; },
}:
pkgs.testers.runNixOSTest {
  name = "nixos-chroot-dynamic-emulator";
  # Room for every probe's timeout scaled for TCG, where KVM is missing.
  meta.timeout = 2400;
  globalTimeout = 2400;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "NixOS 25.05 with boot.binfmt.emulatedSystems (no preferStaticEmulators): the entry (flags P) runs /run/binfmt/aarch64-linux, NixOS's static qemu-aarch64-binfmt-P wrapper (pkgs.wrapQemuBinfmtP), which execs the dynamically linked qemu by its absolute store path. A static aarch64 binary run in a chroot holding only itself fails: without F the kernel looks for /run/binfmt/aarch64-linux inside the chroot (\"No such file or directory\"); registered with F the kernel holds the static wrapper open, but the qemu it execs is not in the chroot, so it exits 255 printing nothing (nixpkgs#160300; fixed by preferStaticEmulators, PR #334859: the fix variant is nixos-chroot-dynamic-emulator-fix-static). Simulated on Debian with crosslab's own static P wrapper around qemu-user's dynamically linked /usr/bin/qemu-aarch64; Debian 13 (the trixie stack) has no dynamically linked qemu-user, so the lab does not apply there";
      crosslab.payloadDebs = {
        "aarch64-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_arm64.deb"; sha256 = "732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5"; };
      };
      boot.binfmt.emulatedSystems = [ "aarch64-linux" ];
      nix.settings = {
        sandbox = true;
        extra-sandbox-paths = [ ];
        extra-platforms = [ ];
      };
    };

  # The script is checks/nixos-chroot-dynamic-emulator.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./nixos-chroot-dynamic-emulator.py;
}
