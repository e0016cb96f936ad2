# generated from labs/*.toml by `cargo xtask lab render`; do not edit
# crosslab's flake: every lab is a NixOS VM test, checks.x86_64-linux.<lab>
# (checks/<lab>.nix and checks/<lab>.py; the shared node is modules/).
{
  description = "crosslab: NixOS VM tests of cross-architecture emulation labs";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";
  };

  outputs =
    inputs:
    let
      system = "x86_64-linux";
      # A lab is tested with the nixpkgs of the input it is pinned to.
      pkgsFrom = input: inputs.${input}.legacyPackages.${system};
      pkgs = pkgsFrom "nixpkgs";

      # Is the committed render fresh? Nix cannot run the renderer (cargo in a
      # build would need every crate vendored), so this checks what it can:
      # each spec and generated file still has the sha256 it had when
      # `cargo xtask lab render` wrote this flake, and every labs/*.toml is in
      # it. A renderer that changed is caught by `cargo test`, not here.
      rendered = {
        "checks/container-registered-emulator.nix" = "b6aa39ef034f354ff94bb080c6c85233d5104102d3de1b18e5762789bd5205b4";
        "checks/container-registered-emulator.py" = "8d72a81162bfb38528ac575267853cc5980522ca6c9266ccc488dfa7604e0244";
        "checks/emulator-exec-foreign.nix" = "ba0e48af3a2a4b8b2ddba816af49d42f079f6b951798e5ec2061b6f895140c4a";
        "checks/emulator-exec-foreign.py" = "d7a323bd388a506897803cf909c139aa8288668f2a81548920aec14bfbb72fc0";
        "checks/extra-platforms-unregistered.nix" = "0d645ecfd4e8c3c9bcd5b7c2b6357bb1b616a7933a19dd5ffd10921b18187263";
        "checks/extra-platforms-unregistered.py" = "cfcca8df3b79bededbcab0bb4b2694ea94e16201dfdf70091cb8932a988a38b5";
        "checks/multiarch-uname.nix" = "3553c06b86e9977313e629bc5900576df91bc7d6b7ddf0251d794a2b17cf29f8";
        "checks/multiarch-uname.py" = "d27cb3f2ed6bd3d400576524fe845eac12e7906fafe8e60c5cca62369a15c486";
        "checks/nixos-chroot-dynamic-emulator-fix-static.nix" = "8ff8a85dd494eb5a3759e9099ce7ad824e2241abaddfb594c46ffd0d062ae119";
        "checks/nixos-chroot-dynamic-emulator-fix-static.py" = "3a3805484a735cd617f66867a1930974e5ed9f3a33dba1bce5709174b4c59711";
        "checks/nixos-chroot-dynamic-emulator.nix" = "5cffd3ad524dc86031f5b571cee74441abaed4258199d2bf1a02ecb2611d1a01";
        "checks/nixos-chroot-dynamic-emulator.py" = "33410182a40bba4804ce22c7b94895bb22f8d524b1c2a42cf9a9c2ff7d5aabce";
        "checks/nixos-static-emulators.nix" = "a76470341c584201de2191c75667e01fecdb9abe770ed2744bccba021c34596a";
        "checks/nixos-static-emulators.py" = "b9acba9e5f518f151378f270b43afa5772122e4a61b4e88061d63ac514a7f22b";
        "checks/nixos-vm-aarch64.nix" = "6406660a0a880262d7808805617ac4d0321bb5cf61755af981e65c35849b0ad1";
        "checks/nixos-vm-aarch64.py" = "09cd4f356394d4b2b1cc1233de449a8eda54556739f96df5393007a646897605";
        "checks/nixos-vm-riscv64.nix" = "9a24e0a0430c947d20ceb94116e29ff1066d3233afb84c3ba82cc481673752d1";
        "checks/nixos-vm-riscv64.py" = "0bb45e7afe0157c5dafb47563f179ac1752c01ceddc6184a8ac7e52d9a323f2d";
        "checks/non-nixos-aarch64-fix-f.nix" = "904f3d90d2590878db9af49a19fae7825dbb464b8803b7192849546a856752bd";
        "checks/non-nixos-aarch64-fix-f.py" = "6b939feed80bfdc803a2fd828f6cd1e60ed6cb58a0f35e5bd49c1e8bf7491b28";
        "checks/non-nixos-aarch64-fix-sandbox-path.nix" = "62e9a8a448ea08d58978fe23f09e10d36aeaeada920ad1cc1e9a134a93a02060";
        "checks/non-nixos-aarch64-fix-sandbox-path.py" = "90e314448acd27c405e696793442f61623bebc8b78629875f518ca4ebfd32682";
        "checks/non-nixos-aarch64-no-sandbox.nix" = "43bb67605f8e28822de90890fc2d6cf8ee1d70c68fda252057ba8b4e15d156bc";
        "checks/non-nixos-aarch64-no-sandbox.py" = "b43fba4f656932e733a85aa36f8e31c03c8abfb97feff0ec4f3c57391b8dc64f";
        "checks/non-nixos-aarch64.nix" = "025e49a0393e4bdd37b9fcee3721c0fa8aac10ce662454043ba7696601aeb299";
        "checks/non-nixos-aarch64.py" = "8db88dda6c8a2df3127375fd7e25d956b6e9a09299b02415dc50700dd5f966ff";
        "checks/self-exec-under-emulation.nix" = "9190b3c13b116cd39f411e805b7a92452f4ebbeb1a9a6b49e7e0a02e04a496ef";
        "checks/self-exec-under-emulation.py" = "1e3a6e268f6f640871dd2ceff47ab0ce5fa5975b11b69fad50756a927765e90f";
        "checks/wrapped-interpreter-env-shebang.nix" = "ce90a52a0882498f5a939da60264d9d25d4d4793a30e5384cdd4c6af4c9089de";
        "checks/wrapped-interpreter-env-shebang.py" = "f5c1c3eaa1142ccc98b322e92811df7eb32d7b2b8484ed17c31fee48da9d3e7a";
        "labs/container-registered-emulator.toml" = "f830e9e42f02b27bf570eef872d4d9db82bc1892833f767b1a35c63dc158169d";
        "labs/emulator-exec-foreign.toml" = "c3905ff13e7f45c7b2add130ff611f2c03790b29f64947a66df84f69e54d6671";
        "labs/extra-platforms-unregistered.toml" = "8697e4149f4681ea5fc9dbcbe7844aedc210ce081558081033bfea167975cab4";
        "labs/multiarch-uname.toml" = "d6fb351d3bb435ee8b60e6e1acc7c4ef8a9862021d9d8161ab85c38e8b41ed6e";
        "labs/nixos-chroot-dynamic-emulator-fix-static.toml" = "bdcf9a2efe4f9aa9bbf962ce3e29e8f3f36ce3399ec4f6952c6e93726b526870";
        "labs/nixos-chroot-dynamic-emulator.toml" = "be1e1f2a4fc71a193f3527f6184595474014e15178aac2b9f88514a6dd01c820";
        "labs/nixos-static-emulators.toml" = "4c2a5e48a32eba441a5ca2e5a153dc57439b8426f45471d1ff9c106505dc5e95";
        "labs/nixos-vm-aarch64.toml" = "1d819a5536771d5018375f34fe1577acf2d4ad1fee60313cb3130442b9061ee3";
        "labs/nixos-vm-riscv64.toml" = "d199146e4e794bfd50cd8978bf4e5cc1aed946cd0d763c797fd9a33210ce7cd0";
        "labs/non-nixos-aarch64-fix-f.toml" = "dda8d60eedce256c36044edf16581fe87fe092ae1ca1ae7373ba63066f335c58";
        "labs/non-nixos-aarch64-fix-sandbox-path.toml" = "73ebad2e00c9e6194ec7aa89e6a0238358c718d2490540ef61bc0ca660ced09a";
        "labs/non-nixos-aarch64-no-sandbox.toml" = "349876019dfcfb9fa2102b04c4535fde1ab2aecfa6e000951acddb6ed5573597";
        "labs/non-nixos-aarch64.toml" = "99095413a932206695e33f1f8d8f2caefd854dde9083b02405bcff2058b5d844";
        "labs/self-exec-under-emulation.toml" = "5a2cd8ec91b2f54782e059562f8814673d9d32733beda1045c1b93845b2de51e";
        "labs/wrapped-interpreter-env-shebang.toml" = "ffef63edaf3db105ec32ccdca853f379e2d99d1cbd075deab5ce14181602dfe8";
      };
      fileAt = path: ./. + "/${path}";
      stale = builtins.filter (
        path:
        !(builtins.pathExists (fileAt path)) || builtins.hashFile "sha256" (fileAt path) != rendered.${path}
      ) (builtins.attrNames rendered);
      specs =
        if builtins.pathExists ./labs then
          builtins.filter (name: builtins.match ".*[.]toml" name != null) (
            builtins.attrNames (builtins.readDir ./labs)
          )
        else
          [ ];
      unrendered = builtins.filter (name: !(rendered ? "labs/${name}")) specs;
      problems = stale ++ map (name: "labs/${name} (not rendered)") unrendered;
    in
    {
      checks.${system} = {
        "container-registered-emulator" = import ./checks/container-registered-emulator.nix { pkgs = pkgsFrom "nixpkgs"; };
        "emulator-exec-foreign" = import ./checks/emulator-exec-foreign.nix { pkgs = pkgsFrom "nixpkgs"; };
        "extra-platforms-unregistered" = import ./checks/extra-platforms-unregistered.nix { pkgs = pkgsFrom "nixpkgs"; };
        "multiarch-uname" = import ./checks/multiarch-uname.nix { pkgs = pkgsFrom "nixpkgs"; };
        "nixos-chroot-dynamic-emulator" = import ./checks/nixos-chroot-dynamic-emulator.nix { pkgs = pkgsFrom "nixpkgs"; };
        "nixos-chroot-dynamic-emulator-fix-static" = import ./checks/nixos-chroot-dynamic-emulator-fix-static.nix { pkgs = pkgsFrom "nixpkgs"; };
        "nixos-static-emulators" = import ./checks/nixos-static-emulators.nix { pkgs = pkgsFrom "nixpkgs"; };
        "nixos-vm-aarch64" = import ./checks/nixos-vm-aarch64.nix { pkgs = pkgsFrom "nixpkgs"; };
        "nixos-vm-riscv64" = import ./checks/nixos-vm-riscv64.nix { pkgs = pkgsFrom "nixpkgs"; };
        "non-nixos-aarch64" = import ./checks/non-nixos-aarch64.nix { pkgs = pkgsFrom "nixpkgs"; };
        "non-nixos-aarch64-fix-f" = import ./checks/non-nixos-aarch64-fix-f.nix { pkgs = pkgsFrom "nixpkgs"; };
        "non-nixos-aarch64-fix-sandbox-path" = import ./checks/non-nixos-aarch64-fix-sandbox-path.nix { pkgs = pkgsFrom "nixpkgs"; };
        "non-nixos-aarch64-no-sandbox" = import ./checks/non-nixos-aarch64-no-sandbox.nix { pkgs = pkgsFrom "nixpkgs"; };
        "self-exec-under-emulation" = import ./checks/self-exec-under-emulation.nix { pkgs = pkgsFrom "nixpkgs"; };
        "wrapped-interpreter-env-shebang" = import ./checks/wrapped-interpreter-env-shebang.nix { pkgs = pkgsFrom "nixpkgs"; };
        # `_` cannot occur in a lab name, so this never shadows a lab.
        render_fresh = pkgs.runCommand "crosslab-render-fresh" { } (
          if problems == [ ] then
            "touch $out"
          else
            ''
              echo ${
                pkgs.lib.escapeShellArg (
                  "stale render: " + builtins.concatStringsSep ", " problems
                  + "; run `cargo xtask lab render` and commit the result"
                )
              } >&2
              exit 1
            ''
        );
      };

      # For the hand-written Nix (modules/). The rendered files are written by
      # `cargo xtask lab render`; reformatting them makes `--check` call them stale.
      formatter.${system} = pkgs.nixfmt-rfc-style;
    };
}
