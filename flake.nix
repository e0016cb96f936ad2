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
      # The package set of the same input that runs on another system, built
      # natively there: what the binary cache holds for aarch64-linux.
      pkgsOnFrom = input: on: inputs.${input}.legacyPackages.${on};
      pkgs = pkgsFrom "nixpkgs";

      # Is the committed render fresh? Nix cannot run the renderer (cargo in a
      # build would need every crate vendored), so this checks what it can:
      # each spec and generated file still has the sha256 it had when
      # `cargo xtask lab render` wrote this flake, and every labs/*.toml is in
      # it. A renderer that changed is caught by `cargo test`, not here.
      rendered = {
        "checks/container-registered-emulator.nix" = "92786ede977e56904fa720b9a904fd17ccde1f3efdc63ec8dd43ee8978172cb4";
        "checks/container-registered-emulator.py" = "8d72a81162bfb38528ac575267853cc5980522ca6c9266ccc488dfa7604e0244";
        "checks/emulated-compile-rust.nix" = "54fd98f9376b1dde88d55060f5b97e31d5fa8e20eeaa278a678f46f11bd7e7da";
        "checks/emulated-compile-rust.py" = "9a4135d2b3f412c631a5877eb3aaae2a7dd257ee9721c9be6dfd588575d21df5";
        "checks/emulated-compile.nix" = "cfb5384a7106036372491d70d9a0c0e652adef96a9b504fca0a8186154bb40c2";
        "checks/emulated-compile.py" = "0f0d5b768151dcd844148b582be0c555accf3a970ac61aa1bb05340c1013ac4a";
        "checks/emulator-exec-foreign.nix" = "50fb96c643d2304d3c763e216a34b2132074c9e56898a390c325550fe64ff196";
        "checks/emulator-exec-foreign.py" = "d7a323bd388a506897803cf909c139aa8288668f2a81548920aec14bfbb72fc0";
        "checks/extra-platforms-unregistered.nix" = "dcb7f749e33641e0c3ab1c63bc93792beb328891a97a479261ebbbfd87e948b6";
        "checks/extra-platforms-unregistered.py" = "cfcca8df3b79bededbcab0bb4b2694ea94e16201dfdf70091cb8932a988a38b5";
        "checks/multiarch-uname.nix" = "ba864ac403e8553410e6a970d30395d35eee62ea14802b6a223c0955f0ba1d57";
        "checks/multiarch-uname.py" = "d27cb3f2ed6bd3d400576524fe845eac12e7906fafe8e60c5cca62369a15c486";
        "checks/nixos-chroot-dynamic-emulator-fix-static.nix" = "ea3e4152631698e2cec70486f852fdc5e20c6bdc0f4f8c0e1047bae9ce379c94";
        "checks/nixos-chroot-dynamic-emulator-fix-static.py" = "3a3805484a735cd617f66867a1930974e5ed9f3a33dba1bce5709174b4c59711";
        "checks/nixos-chroot-dynamic-emulator.nix" = "00dd75f2519ba5887ee74811ac52fcbc7fbe6d46804439e1bd6435ad7f90026d";
        "checks/nixos-chroot-dynamic-emulator.py" = "33410182a40bba4804ce22c7b94895bb22f8d524b1c2a42cf9a9c2ff7d5aabce";
        "checks/nixos-static-emulators.nix" = "ce1f96f8a23962ee06823020303e40718b8efcf265b4b5efe06848ea90d1a1aa";
        "checks/nixos-static-emulators.py" = "b9acba9e5f518f151378f270b43afa5772122e4a61b4e88061d63ac514a7f22b";
        "checks/nixos-vm-aarch64.nix" = "35ea88dde638121957d4077736c31d497403e5db81c62fa1d51ccde6af6d80ef";
        "checks/nixos-vm-aarch64.py" = "b77afd9b6c6af81af3ef6ff5c91c83ce48d95e571fb546d22f933159612021e8";
        "checks/nixos-vm-riscv64.nix" = "6b78b38967169ecc6528a6abab5ee3f55f3854981d42502d20e87086da130e47";
        "checks/nixos-vm-riscv64.py" = "eba081d59f2168cfd0128db25d357e59bbdc8809c9a264c4734ef0712c9cd04b";
        "checks/non-nixos-aarch64-fix-f.nix" = "9135cdf81885472fdd872c60e2bec56797bd311578ecaeb8300d1d76d4690176";
        "checks/non-nixos-aarch64-fix-f.py" = "1d4e5be08c95a2573fc68e8e370cd6461d90ae5d10403ba450fe7ca51a96de4a";
        "checks/non-nixos-aarch64-fix-sandbox-path.nix" = "971ff2361a0b8ddc13ba73fff3b6c5a723fc85d41c2e6c4d73279738a844680c";
        "checks/non-nixos-aarch64-fix-sandbox-path.py" = "8bf045e0b4b23bf68d3ecf204af1b5d5ddafc8b1c6376889869651512a38ea47";
        "checks/non-nixos-aarch64-no-sandbox.nix" = "9838c0ec1d3a9bf2075b64ba0cf50345402542a6c7195a0b1cf9b351e08f6ac4";
        "checks/non-nixos-aarch64-no-sandbox.py" = "771611acfdbe4c71693e99aadfc5d2c4e919ee26249b5a1686a396b696fad1aa";
        "checks/non-nixos-aarch64.nix" = "27913213381d52b674787306c604fb93e755e408638d27e3294d892f01983571";
        "checks/non-nixos-aarch64.py" = "499bd68fd3ad50e2d2eb543e0365640f1a75bd8a06e296397ee11be4cc014bce";
        "checks/self-exec-under-emulation.nix" = "ea0368f8698c5d739dbd36765a32bd967cf1db6c45771a7450c8f6ead394c688";
        "checks/self-exec-under-emulation.py" = "1e3a6e268f6f640871dd2ceff47ab0ce5fa5975b11b69fad50756a927765e90f";
        "checks/wrapped-interpreter-env-shebang.nix" = "7b4d46f0f50e59ad3af3d6f6cd0b350ea3091cacc33f85bc59d2456069b8935d";
        "checks/wrapped-interpreter-env-shebang.py" = "f5c1c3eaa1142ccc98b322e92811df7eb32d7b2b8484ed17c31fee48da9d3e7a";
        "labs/container-registered-emulator.toml" = "7dd99fa7581b9b55bb4d808334952c051a8d1a11af4df0532c8287ddd1d7afbf";
        "labs/emulated-compile-rust.toml" = "26392db08aa2db2b45d6084252561f48f5e2ba27b49530aa877af5adc825b5ce";
        "labs/emulated-compile.toml" = "7a3fe4563ced770bec7e628e8a0ac446ca7cb89129795073c68bee3b20e5e3fd";
        "labs/emulator-exec-foreign.toml" = "8133dfb4db61ab68321f149279ac89c13746cf4e86bd3d260facb07ff2a008f1";
        "labs/extra-platforms-unregistered.toml" = "e339a8eef9950dac6b10bf25fd985a4e51788522f3d235ebe05ce7f212eeb347";
        "labs/multiarch-uname.toml" = "f06983738e456977a40814c108b736dc58be16382d447d4f6f21d986a0a1f767";
        "labs/nixos-chroot-dynamic-emulator-fix-static.toml" = "4a11e27b16a0bfa5d260dad84c04b80cca89d1736da5dc9782c6a8934da8b2d7";
        "labs/nixos-chroot-dynamic-emulator.toml" = "fb41d860af7eaabb612c93cf97b28982e1212121cf8531c1c93ab94c612d2ba7";
        "labs/nixos-static-emulators.toml" = "d4804cf48fff86ccce3ab171ceed151002d4d1290ba6c143ef0a91196214b3f3";
        "labs/nixos-vm-aarch64.toml" = "632ae6ecd7af188902b67823a05940d764834002939214d9545a7f7ef85b4c46";
        "labs/nixos-vm-riscv64.toml" = "a79b467bab3dc1785ae61b79a774d9c231d2cfa9f7e472ae043524f9697a15d8";
        "labs/non-nixos-aarch64-fix-f.toml" = "d3799a219ac81316577491117448e2e32b594261d517062ae86f57e4ef3727ad";
        "labs/non-nixos-aarch64-fix-sandbox-path.toml" = "e996f3c37096a3b400db2f0bfc7e646546fd51de159bef38e257588e04e16c87";
        "labs/non-nixos-aarch64-no-sandbox.toml" = "e4b89e5aa37c57d19508a192b4ddb134ce491f936f288d08c4b2626ee8fa437d";
        "labs/non-nixos-aarch64.toml" = "faf1aabb681cffa501ca22ad5fc7c51e43d7d5b3e9d37e7cd5c791ae46dc1a7b";
        "labs/self-exec-under-emulation.toml" = "93bb7b62bf64c525c86f18195a498c2ac80dd7910719e15f72d555f57d072df0";
        "labs/wrapped-interpreter-env-shebang.toml" = "a5942d9e29dcd71104c43b1121580b9bab110351cb04a0a43ea70fca5a902d3d";
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
      # Every check whose VM comes from cache.nixos.org and fetches pinned by
      # hash: what `nix flake check` builds (the VMs and their test runs).
      checks.${system} = {
        "container-registered-emulator" = import ./checks/container-registered-emulator.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "emulator-exec-foreign" = import ./checks/emulator-exec-foreign.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "extra-platforms-unregistered" = import ./checks/extra-platforms-unregistered.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "multiarch-uname" = import ./checks/multiarch-uname.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "nixos-chroot-dynamic-emulator" = import ./checks/nixos-chroot-dynamic-emulator.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "nixos-chroot-dynamic-emulator-fix-static" = import ./checks/nixos-chroot-dynamic-emulator-fix-static.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "nixos-static-emulators" = import ./checks/nixos-static-emulators.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "nixos-vm-aarch64" = import ./checks/nixos-vm-aarch64.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "non-nixos-aarch64" = import ./checks/non-nixos-aarch64.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "non-nixos-aarch64-fix-f" = import ./checks/non-nixos-aarch64-fix-f.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "non-nixos-aarch64-fix-sandbox-path" = import ./checks/non-nixos-aarch64-fix-sandbox-path.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "non-nixos-aarch64-no-sandbox" = import ./checks/non-nixos-aarch64-no-sandbox.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "self-exec-under-emulation" = import ./checks/self-exec-under-emulation.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "wrapped-interpreter-env-shebang" = import ./checks/wrapped-interpreter-env-shebang.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
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

      # The same tests for labs whose systems have no toolchain in the cache:
      # their nodes cross-build compilers from source (hours). Opt-in:
      # `nix flake check` neither evaluates nor builds an output it does not
      # know, it warns "unknown flake output 'crossChecks'" (Nix's
      # src/nix/flake.cc, CmdFlakeCheck) and goes on; build one with
      # `nix build -L .#crossChecks.x86_64-linux.<lab>`.
      crossChecks.${system} = {
        "emulated-compile" = import ./checks/emulated-compile.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "emulated-compile-rust" = import ./checks/emulated-compile-rust.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "nixos-vm-riscv64" = import ./checks/nixos-vm-riscv64.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
      };

      # For the hand-written Nix (modules/). The rendered files are written by
      # `cargo xtask lab render`; reformatting them makes `--check` call them stale.
      formatter.${system} = pkgs.nixfmt-rfc-style;
    };
}
