# generated from labs/wrapped-interpreter-env-shebang.toml by `cargo xtask lab render`; do not edit
# The lab `wrapped-interpreter-env-shebang` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show wrapped-interpreter-env-shebang` run in it (checks/wrapped-interpreter-env-shebang.py).
{ pkgs }:
pkgs.testers.runNixOSTest {
  name = "wrapped-interpreter-env-shebang";
  meta.timeout = 1320;
  globalTimeout = 1320;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "The interpreter registered with binfmt_misc is a shell wrapper starting with #!/usr/bin/env sh, and the sandbox has no /usr/bin/env: sandboxed builds fail although /run/binfmt is in extra-sandbox-paths; a wrapper whose shell is inside the sandbox works (nixpkgs#110540; since then NixOS wraps an interpreter in a shell only when the entry neither preserves argv[0] nor has F, with #!\${pkgs.bash}/bin/sh, and adds bash to the sandbox; in 25.05 no qemu system is shell-wrapped: qemu gets P and the compiled qemu-<arch>-binfmt-P wrapper)";
      crosslab.payloads = {
        "aarch64-linux" = pkgs.pkgsCross."aarch64-multiplatform".pkgsStatic.busybox;
        "x86_64-linux" = pkgs.pkgsStatic.busybox;
      };
      crosslab.fhsEmulators = [ "aarch64" ];
      nix.settings = {
        sandbox = true;
        extra-sandbox-paths = [ "/run/binfmt" "/usr/bin/qemu-aarch64-static" "/usr/bin/qemu-aarch64?" ];
        extra-platforms = [ "aarch64-linux" ];
      };
    };

  # The script is checks/wrapped-interpreter-env-shebang.py; a JSON prelude hands it what it needs
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
    + builtins.readFile ./wrapped-interpreter-env-shebang.py;
}
