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
        "checks/emulator-exec-foreign.nix" = "ba0e48af3a2a4b8b2ddba816af49d42f079f6b951798e5ec2061b6f895140c4a";
        "checks/emulator-exec-foreign.py" = "6fe0abc8e9205d25ac783ed4dd4881590d5b3782d359fe8b238f2444826fe2cc";
        "checks/extra-platforms-unregistered.nix" = "0d645ecfd4e8c3c9bcd5b7c2b6357bb1b616a7933a19dd5ffd10921b18187263";
        "checks/extra-platforms-unregistered.py" = "3177e59a3c4f76b836b3ac860fc80932e62a390daa55ff53dc69edfb2f7d87cb";
        "checks/multiarch-uname.nix" = "3553c06b86e9977313e629bc5900576df91bc7d6b7ddf0251d794a2b17cf29f8";
        "checks/multiarch-uname.py" = "9a62351a298a525087fe0de89bc56f3c990ac807fcb6fbbcac3b390c234a3a14";
        "checks/nixos-static-emulators.nix" = "fdda7f4527929d916a46d7ed2ba41056c7184051e3d97c6b984570bcfc8ff916";
        "checks/nixos-static-emulators.py" = "a75701be26422e9c8e5dc4ebc10704fb07b6380a0653abe8d4b1a3f4ecbc3928";
        "checks/nixos-vm-aarch64.nix" = "6406660a0a880262d7808805617ac4d0321bb5cf61755af981e65c35849b0ad1";
        "checks/nixos-vm-aarch64.py" = "cdc0272579d4f758df46e47e52cab01b91164ccebbe3e6ec4aed8aaafc1e36eb";
        "checks/nixos-vm-riscv64.nix" = "8fb15f85cf395b96c66df00a2a51fc217bccaa3e8ed34b667b1e2e2a3f3a4b49";
        "checks/nixos-vm-riscv64.py" = "f2e0cd964468c8d6b9a6a380be8330beea352f418dd01585480214717b98dabf";
        "checks/non-nixos-aarch64-fix-f.nix" = "904f3d90d2590878db9af49a19fae7825dbb464b8803b7192849546a856752bd";
        "checks/non-nixos-aarch64-fix-f.py" = "77a22d406068598f4a4788cdbc605baf8f36c40833adad96177e232bad30da57";
        "checks/non-nixos-aarch64-fix-sandbox-path.nix" = "62e9a8a448ea08d58978fe23f09e10d36aeaeada920ad1cc1e9a134a93a02060";
        "checks/non-nixos-aarch64-fix-sandbox-path.py" = "52c0b925df5f888e724c0aff00a3a824d1919d25a97575a46199355e8001d4ed";
        "checks/non-nixos-aarch64-no-sandbox.nix" = "43bb67605f8e28822de90890fc2d6cf8ee1d70c68fda252057ba8b4e15d156bc";
        "checks/non-nixos-aarch64-no-sandbox.py" = "6b613d0f1ca807cd055e4ae53082325cd29d096ca35d69e5972278db463b141b";
        "checks/non-nixos-aarch64.nix" = "025e49a0393e4bdd37b9fcee3721c0fa8aac10ce662454043ba7696601aeb299";
        "checks/non-nixos-aarch64.py" = "3582c9c868d43004abc0ee4107a5a73d900a1bc22f3a18e3aba374de6d910f3f";
        "checks/self-exec-under-emulation.nix" = "9190b3c13b116cd39f411e805b7a92452f4ebbeb1a9a6b49e7e0a02e04a496ef";
        "checks/self-exec-under-emulation.py" = "b5e0526c49157e5aeef4765314a4fedd1910bfc8a5120ab9ca641e963f88a727";
        "checks/wrapped-interpreter-env-shebang.nix" = "16c096f800b301596924a8f4d9235aa7a3aec16199e01d165a7c420eb8ce488f";
        "checks/wrapped-interpreter-env-shebang.py" = "56975e13187ed4cc21ce0432db2b185fa642f93e889b67ee54e8b7620c748a35";
        "labs/container-registered-emulator.toml" = "f830e9e42f02b27bf570eef872d4d9db82bc1892833f767b1a35c63dc158169d";
        "labs/emulator-exec-foreign.toml" = "c3905ff13e7f45c7b2add130ff611f2c03790b29f64947a66df84f69e54d6671";
        "labs/extra-platforms-unregistered.toml" = "8697e4149f4681ea5fc9dbcbe7844aedc210ce081558081033bfea167975cab4";
        "labs/multiarch-uname.toml" = "d6fb351d3bb435ee8b60e6e1acc7c4ef8a9862021d9d8161ab85c38e8b41ed6e";
        "labs/nixos-static-emulators.toml" = "6849dc7bbd3d13696990e2054d51e8cba95c4dda01407c9131d2263d00d1553a";
        "labs/nixos-vm-aarch64.toml" = "1d819a5536771d5018375f34fe1577acf2d4ad1fee60313cb3130442b9061ee3";
        "labs/nixos-vm-riscv64.toml" = "01ecafdb688b6365408cafc82fa368aeb6476237b7decbd086d871adefec9c82";
        "labs/non-nixos-aarch64-fix-f.toml" = "dda8d60eedce256c36044edf16581fe87fe092ae1ca1ae7373ba63066f335c58";
        "labs/non-nixos-aarch64-fix-sandbox-path.toml" = "73ebad2e00c9e6194ec7aa89e6a0238358c718d2490540ef61bc0ca660ced09a";
        "labs/non-nixos-aarch64-no-sandbox.toml" = "349876019dfcfb9fa2102b04c4535fde1ab2aecfa6e000951acddb6ed5573597";
        "labs/non-nixos-aarch64.toml" = "99095413a932206695e33f1f8d8f2caefd854dde9083b02405bcff2058b5d844";
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
