# generated from labs/non-nixos-aarch64-fix-sandbox-path.toml by `cargo xtask lab render`; do not edit
# The lab `non-nixos-aarch64-fix-sandbox-path` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show non-nixos-aarch64-fix-sandbox-path` run in it (checks/non-nixos-aarch64-fix-sandbox-path.py).
{ pkgs }:
pkgs.testers.runNixOSTest {
  name = "non-nixos-aarch64-fix-sandbox-path";
  meta.timeout = 1080;
  globalTimeout = 1080;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "Fix 1 for non-nixos-aarch64: put the FHS interpreter into the sandbox with extra-sandbox-paths, and the sandboxed aarch64 build passes (NixOS Discourse t/10750; nixpkgs#33553). Name the real file too: from Debian 13 on, /usr/bin/qemu-aarch64-static is a symlink to qemu-aarch64, and Nix puts the link alone into the sandbox; the optional `?` path keeps the fix working where that file does not exist (Debian 12)";
      crosslab.payloads = {
        "aarch64-linux" = pkgs.pkgsCross."aarch64-multiplatform".pkgsStatic.busybox;
      };
      crosslab.toolchains = {
        "aarch64-linux" = pkgs.pkgsCross."aarch64-multiplatform".gcc;
      };
      crosslab.fhsEmulators = [ "aarch64" ];
      nix.settings = {
        sandbox = true;
        extra-sandbox-paths = [ "/usr/bin/qemu-aarch64-static" "/usr/bin/qemu-aarch64?" ];
        extra-platforms = [ "aarch64-linux" ];
      };
    };

  # The script is checks/non-nixos-aarch64-fix-sandbox-path.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./non-nixos-aarch64-fix-sandbox-path.py;
}
