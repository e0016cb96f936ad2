# generated from labs/container-registered-emulator.toml by `cargo xtask lab render`; do not edit
# The lab `container-registered-emulator` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show container-registered-emulator` run in it (checks/container-registered-emulator.py).
{ pkgs }:
pkgs.testers.runNixOSTest {
  name = "container-registered-emulator";
  meta.timeout = 960;
  globalTimeout = 960;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "An emulator registered from a container (Docker's binfmt installers: `docker run --privileged --rm tonistiigi/binfmt --install arm64` of the seed notes, multiarch/qemu-user-static): its interpreter path exists only in the container's filesystem. Registered with F (tonistiigi/binfmt, multiarch's `-p yes`) the kernel keeps the file open, and emulated programs and sandboxed builds work after the container is gone; registered without F they fail with \"No such file or directory\", the classic `exec user process caused: no such file or directory`";
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

  # The script is checks/container-registered-emulator.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./container-registered-emulator.py;
}
