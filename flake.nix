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
        "checks/emulated-compile-rust.nix" = "a15e799fbe0478f66c8d8760a50a7849526e41b4e23631bfe7d98600177a7118";
        "checks/emulated-compile-rust.py" = "9a4135d2b3f412c631a5877eb3aaae2a7dd257ee9721c9be6dfd588575d21df5";
        "checks/emulated-compile.nix" = "a4a6f55f87a91b5f5f06bba7d64d37116431659962b3f3ce975222ba47e4619e";
        "checks/emulated-compile.py" = "0f0d5b768151dcd844148b582be0c555accf3a970ac61aa1bb05340c1013ac4a";
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
        "checks/nixos-vm-aarch64.nix" = "245daec01c6c76ddff17fc5135208a79c1cd30da8c2313a6fcaf198184776709";
        "checks/nixos-vm-aarch64.py" = "b77afd9b6c6af81af3ef6ff5c91c83ce48d95e571fb546d22f933159612021e8";
        "checks/nixos-vm-riscv64.nix" = "193f9bfd69d87a8f186c8a2de87045ec2399098b5b3f2a0996952bbd94561a19";
        "checks/nixos-vm-riscv64.py" = "eba081d59f2168cfd0128db25d357e59bbdc8809c9a264c4734ef0712c9cd04b";
        "checks/non-nixos-aarch64-fix-f.nix" = "420409cfa1d42a8a81d13b47120dc3a69c59703113db42c7bdd8519901763160";
        "checks/non-nixos-aarch64-fix-f.py" = "1d4e5be08c95a2573fc68e8e370cd6461d90ae5d10403ba450fe7ca51a96de4a";
        "checks/non-nixos-aarch64-fix-sandbox-path.nix" = "5af2db81abd0355c616c73ada15b903375e0c3a57271b9f0e18540bec08b237c";
        "checks/non-nixos-aarch64-fix-sandbox-path.py" = "8bf045e0b4b23bf68d3ecf204af1b5d5ddafc8b1c6376889869651512a38ea47";
        "checks/non-nixos-aarch64-no-sandbox.nix" = "507738d0ec2796dce4c926f03ebd4fbbcfb26e9feb6923e3fafdcc5df0aed384";
        "checks/non-nixos-aarch64-no-sandbox.py" = "771611acfdbe4c71693e99aadfc5d2c4e919ee26249b5a1686a396b696fad1aa";
        "checks/non-nixos-aarch64.nix" = "e527741e8d1ddf06318678a092ba127bf00a0dd7c5591b09f5b0742634dcdc2c";
        "checks/non-nixos-aarch64.py" = "499bd68fd3ad50e2d2eb543e0365640f1a75bd8a06e296397ee11be4cc014bce";
        "checks/self-exec-under-emulation.nix" = "9190b3c13b116cd39f411e805b7a92452f4ebbeb1a9a6b49e7e0a02e04a496ef";
        "checks/self-exec-under-emulation.py" = "1e3a6e268f6f640871dd2ceff47ab0ce5fa5975b11b69fad50756a927765e90f";
        "checks/wrapped-interpreter-env-shebang.nix" = "ce90a52a0882498f5a939da60264d9d25d4d4793a30e5384cdd4c6af4c9089de";
        "checks/wrapped-interpreter-env-shebang.py" = "f5c1c3eaa1142ccc98b322e92811df7eb32d7b2b8484ed17c31fee48da9d3e7a";
        "labs/container-registered-emulator.toml" = "f830e9e42f02b27bf570eef872d4d9db82bc1892833f767b1a35c63dc158169d";
        "labs/emulated-compile-rust.toml" = "71ef938c880433f48656af1520e50e957c5eacc600f342ea14a74aad5b34e9c6";
        "labs/emulated-compile.toml" = "5027cb1a0477e07cd746a8205b90bc21689f1ac3d6e083dfbbae059be54ae8b3";
        "labs/emulator-exec-foreign.toml" = "c3905ff13e7f45c7b2add130ff611f2c03790b29f64947a66df84f69e54d6671";
        "labs/extra-platforms-unregistered.toml" = "8697e4149f4681ea5fc9dbcbe7844aedc210ce081558081033bfea167975cab4";
        "labs/multiarch-uname.toml" = "d6fb351d3bb435ee8b60e6e1acc7c4ef8a9862021d9d8161ab85c38e8b41ed6e";
        "labs/nixos-chroot-dynamic-emulator-fix-static.toml" = "bdcf9a2efe4f9aa9bbf962ce3e29e8f3f36ce3399ec4f6952c6e93726b526870";
        "labs/nixos-chroot-dynamic-emulator.toml" = "be1e1f2a4fc71a193f3527f6184595474014e15178aac2b9f88514a6dd01c820";
        "labs/nixos-static-emulators.toml" = "4c2a5e48a32eba441a5ca2e5a153dc57439b8426f45471d1ff9c106505dc5e95";
        "labs/nixos-vm-aarch64.toml" = "a9e20309642ec39bf2d0c3a6213e93d22eca9da7be55be8a1a94ad1479fbc0f0";
        "labs/nixos-vm-riscv64.toml" = "10e77c28bc6bf40a6b7fa079b548e10eb7c14ca8343c36f19f712e7968768de6";
        "labs/non-nixos-aarch64-fix-f.toml" = "102e2f67c7a4d2ad03a995a9f69f69d68641fff035762bed5f547f54455e4015";
        "labs/non-nixos-aarch64-fix-sandbox-path.toml" = "6074b17de6a776f64ac927dd8f576eb0bbf6cb9be3b6e4857df26d64b6760bbf";
        "labs/non-nixos-aarch64-no-sandbox.toml" = "6907cd192246417fd42bf331ee7a4d72261aa52e14325acebd82e1523dd4ec27";
        "labs/non-nixos-aarch64.toml" = "9cd5d6fe6ef83abbba30fa4a2e17973e20cf06fb344d40eb458ec1fa436af5fe";
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
        "emulated-compile" = import ./checks/emulated-compile.nix { pkgs = pkgsFrom "nixpkgs"; };
        "emulated-compile-rust" = import ./checks/emulated-compile-rust.nix { pkgs = pkgsFrom "nixpkgs"; };
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
