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
        "checks/container-registered-emulator.nix" = "7d621fafa175592d373147cb7ef32a8c4b27ad69895a1b4a41b8b75cb33c8a29";
        "checks/container-registered-emulator.py" = "0bce867297ede8f971eae941e91f09102586938cff8aabee457536af69d9b443";
        "checks/emulator-exec-foreign.nix" = "b49b323d5071cd514ba1c9b67482a9a3a5b0c200acece90de4f8fb46b0c4d144";
        "checks/emulator-exec-foreign.py" = "a7e5a9a33cadc6d368a6f5beab6d2215792af445c55d837c76a2b3280f6c2953";
        "checks/extra-platforms-unregistered.nix" = "b9dd84bc4f3d13ae526ebce74fafb51664e4ae1081ff5be98886901e00ee333e";
        "checks/extra-platforms-unregistered.py" = "f5bca9f224c49638bf5df42af030d4abcdd0301eec66399720b73f10535ba869";
        "checks/multiarch-uname.nix" = "a0ed7740c9481dfcca08f0b169c5c64bd51302feb5cd2504963ad9f61f5de3e4";
        "checks/multiarch-uname.py" = "014a091d7c4328ee1e0c7e2d0cf4c31e61b4939cc460c9cc6650554470519c31";
        "checks/nixos-static-emulators.nix" = "f9ca414e40e70d64960f967e213a799149e325cb1f1f8f3f7245205997bfc578";
        "checks/nixos-static-emulators.py" = "be4a6d2600c83983adcc877007ba8bd9034fae2223982d4cbd66a1ae2fb14b86";
        "checks/nixos-vm-aarch64.nix" = "31b983b201c63e3fcd01ffa35217e7ec0b2205a7e129ff84fb9e3cdc81499fa4";
        "checks/nixos-vm-aarch64.py" = "62bb095dcf61c43c127babfa2bab9b58686482946abb5496f8fc0c9fa80423d1";
        "checks/nixos-vm-riscv64.nix" = "8e29a34d99be32fa3b61ca9e8a1eb8d2d34c847675ad9a1a7714386e69da2654";
        "checks/nixos-vm-riscv64.py" = "546c0c9b25664a1bb6bb8672ed9bfe4d4837131d1b94ac1065ffea5b8991ba67";
        "checks/non-nixos-aarch64-fix-f.nix" = "10ce110637ef45c741fd3ca95d3d9759db8485138a18df9d3ed8272666f83097";
        "checks/non-nixos-aarch64-fix-f.py" = "82ef252957f57bff3468fddf0d40a0310bad3e4c82b432d5f0c78f5b05f5b0c0";
        "checks/non-nixos-aarch64-fix-sandbox-path.nix" = "08c6e4d281633a5d462199c8655ca9477b54ce44c0caaf0f26bbb4d2223fe3d2";
        "checks/non-nixos-aarch64-fix-sandbox-path.py" = "2ec3b29ac8736a5e919247b322629b97b5a479163f73b389e13316284a637ca0";
        "checks/non-nixos-aarch64-no-sandbox.nix" = "c360af8dcdce5719ad77b5ccf32951f65e206c6edb59608b63465a7ed73457db";
        "checks/non-nixos-aarch64-no-sandbox.py" = "ff020dbcae8793810ec34e3ed5711b28e49c7251f2a9437eecddcc0335b10378";
        "checks/non-nixos-aarch64.nix" = "8f59dc4d2d89bb0dc55894ae8cccdbdf68e5a2c96a4717e3735f8eb224446c03";
        "checks/non-nixos-aarch64.py" = "893f47ca8b71a78fd9aa3bdb7e58af99912bdd76e752903576207105959dff3b";
        "checks/self-exec-under-emulation.nix" = "c2f77eab86f2f72d57523b1a8c332e2dc18ed3fe20564b64d161deea9808f006";
        "checks/self-exec-under-emulation.py" = "07afdc4cfa1c4dde6df8ea44adc9a56d0d7abe71e496773dd77ef74400121134";
        "checks/wrapped-interpreter-env-shebang.nix" = "cbce2736f7e80199829683c5de823251ff018e13847bcf125ba651dd50560152";
        "checks/wrapped-interpreter-env-shebang.py" = "f6c397cea91dc47c5350fd2ebe55db4446413629c49408267d01a5afb2977c35";
        "labs/container-registered-emulator.toml" = "f830e9e42f02b27bf570eef872d4d9db82bc1892833f767b1a35c63dc158169d";
        "labs/emulator-exec-foreign.toml" = "c3905ff13e7f45c7b2add130ff611f2c03790b29f64947a66df84f69e54d6671";
        "labs/extra-platforms-unregistered.toml" = "8697e4149f4681ea5fc9dbcbe7844aedc210ce081558081033bfea167975cab4";
        "labs/multiarch-uname.toml" = "d6fb351d3bb435ee8b60e6e1acc7c4ef8a9862021d9d8161ab85c38e8b41ed6e";
        "labs/nixos-static-emulators.toml" = "6849dc7bbd3d13696990e2054d51e8cba95c4dda01407c9131d2263d00d1553a";
        "labs/nixos-vm-aarch64.toml" = "1d819a5536771d5018375f34fe1577acf2d4ad1fee60313cb3130442b9061ee3";
        "labs/nixos-vm-riscv64.toml" = "01ecafdb688b6365408cafc82fa368aeb6476237b7decbd086d871adefec9c82";
        "labs/non-nixos-aarch64-fix-f.toml" = "dda8d60eedce256c36044edf16581fe87fe092ae1ca1ae7373ba63066f335c58";
        "labs/non-nixos-aarch64-fix-sandbox-path.toml" = "319dbf3e8484fadad79e2d3cbd6f4a9a3499e5b9e13c55cbaba5fd219cbc359d";
        "labs/non-nixos-aarch64-no-sandbox.toml" = "349876019dfcfb9fa2102b04c4535fde1ab2aecfa6e000951acddb6ed5573597";
        "labs/non-nixos-aarch64.toml" = "99095413a932206695e33f1f8d8f2caefd854dde9083b02405bcff2058b5d844";
        "labs/self-exec-under-emulation.toml" = "8dc35e16a7984f201a6e80f2e702c5453ad39ce88589e9bcddb8d552c5892ba0";
        "labs/wrapped-interpreter-env-shebang.toml" = "a9dd32014cc3f4746248c88e99c736bca6800fbc2dff423439b57c521f146d00";
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
