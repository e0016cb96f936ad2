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
        "checks/container-registered-emulator.py" = "af3eee794a8387d29654859dd7047b7412680aeec2b237e2e643c4ab3e47b176";
        "checks/emulated-compile-rust.nix" = "a15e799fbe0478f66c8d8760a50a7849526e41b4e23631bfe7d98600177a7118";
        "checks/emulated-compile-rust.py" = "590d6c8446fac549eb87a5374ab137ca6c53c8d81960374df24abe37305cf742";
        "checks/emulated-compile.nix" = "a4a6f55f87a91b5f5f06bba7d64d37116431659962b3f3ce975222ba47e4619e";
        "checks/emulated-compile.py" = "02ddcd76a9826207b461e7712ef2992a0e67c053e7a86086a72efefa941e68ad";
        "checks/emulator-exec-foreign.nix" = "ba0e48af3a2a4b8b2ddba816af49d42f079f6b951798e5ec2061b6f895140c4a";
        "checks/emulator-exec-foreign.py" = "6fe0abc8e9205d25ac783ed4dd4881590d5b3782d359fe8b238f2444826fe2cc";
        "checks/extra-platforms-unregistered.nix" = "0d645ecfd4e8c3c9bcd5b7c2b6357bb1b616a7933a19dd5ffd10921b18187263";
        "checks/extra-platforms-unregistered.py" = "3177e59a3c4f76b836b3ac860fc80932e62a390daa55ff53dc69edfb2f7d87cb";
        "checks/multiarch-uname.nix" = "3553c06b86e9977313e629bc5900576df91bc7d6b7ddf0251d794a2b17cf29f8";
        "checks/multiarch-uname.py" = "9a62351a298a525087fe0de89bc56f3c990ac807fcb6fbbcac3b390c234a3a14";
        "checks/nixos-static-emulators.nix" = "fdda7f4527929d916a46d7ed2ba41056c7184051e3d97c6b984570bcfc8ff916";
        "checks/nixos-static-emulators.py" = "a75701be26422e9c8e5dc4ebc10704fb07b6380a0653abe8d4b1a3f4ecbc3928";
        "checks/nixos-vm-aarch64.nix" = "245daec01c6c76ddff17fc5135208a79c1cd30da8c2313a6fcaf198184776709";
        "checks/nixos-vm-aarch64.py" = "3e686837a31652dd0b88f41535247fa2466054fc53a7ce707e69779f82e429ab";
        "checks/nixos-vm-riscv64.nix" = "88c4a406fe923b2013d2dcf1e60fcc2d71fe4a7b0a3baf93f6e65b9649a5c64d";
        "checks/nixos-vm-riscv64.py" = "aa03c33fe441ffa57861fdac8b6e56284fc4fff961df672b88da0e43fbd2ac2d";
        "checks/non-nixos-aarch64-fix-f.nix" = "420409cfa1d42a8a81d13b47120dc3a69c59703113db42c7bdd8519901763160";
        "checks/non-nixos-aarch64-fix-f.py" = "f4d77183bbb775fb7603ef13fad7d51b6dbf1078a52f4716718c13d299c0d94f";
        "checks/non-nixos-aarch64-fix-sandbox-path.nix" = "5af2db81abd0355c616c73ada15b903375e0c3a57271b9f0e18540bec08b237c";
        "checks/non-nixos-aarch64-fix-sandbox-path.py" = "a93bafe2c90700e9e2d70ca30f5b73bade98b407095e1d13627ac044e4682bcd";
        "checks/non-nixos-aarch64-no-sandbox.nix" = "507738d0ec2796dce4c926f03ebd4fbbcfb26e9feb6923e3fafdcc5df0aed384";
        "checks/non-nixos-aarch64-no-sandbox.py" = "7521922ca7664a00049889c1c134ac0816b16df832c8bdc08760ff6859d8f7e5";
        "checks/non-nixos-aarch64.nix" = "e527741e8d1ddf06318678a092ba127bf00a0dd7c5591b09f5b0742634dcdc2c";
        "checks/non-nixos-aarch64.py" = "50462eb6f5bc1d174ec9f800990a1ad4661d7dd50bfc5bceea1656a677af75b9";
        "checks/self-exec-under-emulation.nix" = "9190b3c13b116cd39f411e805b7a92452f4ebbeb1a9a6b49e7e0a02e04a496ef";
        "checks/self-exec-under-emulation.py" = "b5e0526c49157e5aeef4765314a4fedd1910bfc8a5120ab9ca641e963f88a727";
        "checks/wrapped-interpreter-env-shebang.nix" = "16c096f800b301596924a8f4d9235aa7a3aec16199e01d165a7c420eb8ce488f";
        "checks/wrapped-interpreter-env-shebang.py" = "56975e13187ed4cc21ce0432db2b185fa642f93e889b67ee54e8b7620c748a35";
        "labs/container-registered-emulator.toml" = "f830e9e42f02b27bf570eef872d4d9db82bc1892833f767b1a35c63dc158169d";
        "labs/emulated-compile-rust.toml" = "71ef938c880433f48656af1520e50e957c5eacc600f342ea14a74aad5b34e9c6";
        "labs/emulated-compile.toml" = "5027cb1a0477e07cd746a8205b90bc21689f1ac3d6e083dfbbae059be54ae8b3";
        "labs/emulator-exec-foreign.toml" = "c3905ff13e7f45c7b2add130ff611f2c03790b29f64947a66df84f69e54d6671";
        "labs/extra-platforms-unregistered.toml" = "8697e4149f4681ea5fc9dbcbe7844aedc210ce081558081033bfea167975cab4";
        "labs/multiarch-uname.toml" = "d6fb351d3bb435ee8b60e6e1acc7c4ef8a9862021d9d8161ab85c38e8b41ed6e";
        "labs/nixos-static-emulators.toml" = "6849dc7bbd3d13696990e2054d51e8cba95c4dda01407c9131d2263d00d1553a";
        "labs/nixos-vm-aarch64.toml" = "a9e20309642ec39bf2d0c3a6213e93d22eca9da7be55be8a1a94ad1479fbc0f0";
        "labs/nixos-vm-riscv64.toml" = "7b55e6d6fd65555ccceb5535bf82626a1b43c619575e32408d00b47337d3922f";
        "labs/non-nixos-aarch64-fix-f.toml" = "102e2f67c7a4d2ad03a995a9f69f69d68641fff035762bed5f547f54455e4015";
        "labs/non-nixos-aarch64-fix-sandbox-path.toml" = "6074b17de6a776f64ac927dd8f576eb0bbf6cb9be3b6e4857df26d64b6760bbf";
        "labs/non-nixos-aarch64-no-sandbox.toml" = "6907cd192246417fd42bf331ee7a4d72261aa52e14325acebd82e1523dd4ec27";
        "labs/non-nixos-aarch64.toml" = "9cd5d6fe6ef83abbba30fa4a2e17973e20cf06fb344d40eb458ec1fa436af5fe";
        "labs/self-exec-under-emulation.toml" = "8dc35e16a7984f201a6e80f2e702c5453ad39ce88589e9bcddb8d552c5892ba0";
        "labs/wrapped-interpreter-env-shebang.toml" = "614c397f516bcd3c510895a103b3f41c1a77c40025fbdd3956482a868eaf53a3";
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
