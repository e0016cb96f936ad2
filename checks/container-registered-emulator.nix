# generated from labs/container-registered-emulator.toml by `cargo xtask lab render`; do not edit
# The lab `container-registered-emulator` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show container-registered-emulator` run in it (checks/container-registered-emulator.py).
# It is checks.x86_64-linux.container-registered-emulator (xtask/src/render/closure.rs says why).
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
  name = "container-registered-emulator";
  # Room for every probe's timeout scaled for TCG, where KVM is missing.
  meta.timeout = 2400;
  globalTimeout = 2400;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "An emulator registered from a container (Docker's binfmt installers: `docker run --privileged --rm tonistiigi/binfmt --install arm64` of the seed notes, multiarch/qemu-user-static): its interpreter path exists only in the container's filesystem. Registered with F (tonistiigi/binfmt, multiarch's `-p yes`) the kernel keeps the file open, and emulated programs and sandboxed builds work after the container is gone; registered without F they fail with \"No such file or directory\", the classic `exec user process caused: no such file or directory`";
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

  # The script is checks/container-registered-emulator.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./container-registered-emulator.py;
}
