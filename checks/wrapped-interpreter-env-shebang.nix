# generated from labs/wrapped-interpreter-env-shebang.toml by `cargo xtask lab render`; do not edit
# The lab `wrapped-interpreter-env-shebang` as a NixOS test: one VM modelling a non-nixos host,
# every probe of `cargo xtask lab show wrapped-interpreter-env-shebang` run in it (checks/wrapped-interpreter-env-shebang.py).
# It is checks.x86_64-linux.wrapped-interpreter-env-shebang (xtask/src/render/closure.rs says why).
# From the NixOS binary cache: qemu-user (static).
# Fetched by hash: aarch64-linux busybox (Debian busybox-static, arm64), x86_64-linux busybox (Debian busybox-static, amd64).
# Built from source: nothing.
# pkgsOn: the package set that runs on a system, natively built (the
# flake's legacyPackages of the same nixpkgs).
{
  pkgs,
  pkgsOn ? system: import pkgs.path { inherit system; },
}:
pkgs.testers.runNixOSTest {
  name = "wrapped-interpreter-env-shebang";
  # Room for every probe's timeout scaled for TCG, where KVM is missing.
  meta.timeout = 4200;
  globalTimeout = 4200;

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = "The interpreter registered with binfmt_misc is a shell wrapper starting with #!/usr/bin/env sh, and the sandbox has no /usr/bin/env: sandboxed builds fail although /run/binfmt is in extra-sandbox-paths; a wrapper whose shell is inside the sandbox works (nixpkgs#110540; since then NixOS wraps an interpreter in a shell only when the entry neither preserves argv[0] nor has F, with #!\${pkgs.bash}/bin/sh, and adds bash to the sandbox; in 25.05 no qemu system is shell-wrapped: qemu gets P and the compiled qemu-<arch>-binfmt-P wrapper)";
      crosslab.payloadDebs = {
        "aarch64-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_arm64.deb"; sha256 = "732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5"; };
        "x86_64-linux" = { file = "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb"; sha256 = "3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744"; };
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
        tcg_slowdown = 5;
      };
    in
    "import json\ncrosslab_node = json.loads(${builtins.toJSON (builtins.toJSON node)})\n"
    + builtins.readFile ../modules/crosslab_probe.py
    + builtins.readFile ./wrapped-interpreter-env-shebang.py;
}
