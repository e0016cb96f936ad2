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
        "checks/container-registered-emulator.nix" = "2ce3643af04cc4b22c0637d6324aa1b90bea9a3d94af37cac4f4b19babb8c81d";
        "checks/container-registered-emulator.py" = "8d72a81162bfb38528ac575267853cc5980522ca6c9266ccc488dfa7604e0244";
        "checks/emulated-compile-rust.nix" = "2b37144936f673e2375bee2628279c105f9b8ce167aa347d341426342c4d5fde";
        "checks/emulated-compile-rust.py" = "9a4135d2b3f412c631a5877eb3aaae2a7dd257ee9721c9be6dfd588575d21df5";
        "checks/emulated-compile.nix" = "360b55d61ab9a89291cabcb6079be2214b395ee446ddb0c7d6eba42149816aed";
        "checks/emulated-compile.py" = "0f0d5b768151dcd844148b582be0c555accf3a970ac61aa1bb05340c1013ac4a";
        "checks/emulator-exec-foreign.nix" = "ae100cd8437701158276defc486d4059605fffc33b34b1b6b144ad0cb588799e";
        "checks/emulator-exec-foreign.py" = "d7a323bd388a506897803cf909c139aa8288668f2a81548920aec14bfbb72fc0";
        "checks/extra-platforms-unregistered.nix" = "9ca31a413995c837e12c65df3a28578d6697206b2292123b0e8af09ba212e705";
        "checks/extra-platforms-unregistered.py" = "cfcca8df3b79bededbcab0bb4b2694ea94e16201dfdf70091cb8932a988a38b5";
        "checks/multiarch-uname.nix" = "07b59d3c70c88399631a9d6d4b2ca97d9b114364fa71c0c01a5498bccdc30e09";
        "checks/multiarch-uname.py" = "d27cb3f2ed6bd3d400576524fe845eac12e7906fafe8e60c5cca62369a15c486";
        "checks/nix-5258-seccomp-emulated-nix.nix" = "d6cf2204838f0ced972e5ec61e0d807635eaa8e24bd2855aec1681c05bf8d5d2";
        "checks/nix-5258-seccomp-emulated-nix.py" = "4dabb645864c3d99984e4a0fdb9737ac882037a89088077d1f0517aa4690eee3";
        "checks/nix-daemon-trusted-user.nix" = "711e0c9f10817cee051d2d302701c1ab139facfe5e32a8bbd6cde3228b69b936";
        "checks/nix-daemon-trusted-user.py" = "ccb19f28dab13c5bd62fa830df98193a0448a94a36ed7b91d161e2bd317137ea";
        "checks/nix-daemon-untrusted-settings.nix" = "7633214dbc174ae5119ee960cf6f6365be7094b915917d7aaec0d68ae2b53691";
        "checks/nix-daemon-untrusted-settings.py" = "3345d5a5d1292fbf1a964c9dfa309645f6ef52753fc37523512ad749f6fe981f";
        "checks/nixos-chroot-dynamic-emulator-fix-static.nix" = "8f1d032a9f460125b05d5dbb42e481e27c5e572155470afd20d8dd973c4cc207";
        "checks/nixos-chroot-dynamic-emulator-fix-static.py" = "3a3805484a735cd617f66867a1930974e5ed9f3a33dba1bce5709174b4c59711";
        "checks/nixos-chroot-dynamic-emulator.nix" = "edd730214b6288d43eca8d9880631bb97dc2219d24b22867e07b07c02a45e9c1";
        "checks/nixos-chroot-dynamic-emulator.py" = "33410182a40bba4804ce22c7b94895bb22f8d524b1c2a42cf9a9c2ff7d5aabce";
        "checks/nixos-static-emulators.nix" = "685a7b6a7a5cca72230666e22eb75349464a2f3ad766542cf97d6f15e7d1d650";
        "checks/nixos-static-emulators.py" = "b9acba9e5f518f151378f270b43afa5772122e4a61b4e88061d63ac514a7f22b";
        "checks/nixos-vm-aarch64.nix" = "f9a432c2c0934d8fb99ef674e7bdf821610f9257bd4e90a515018b6cb781b178";
        "checks/nixos-vm-aarch64.py" = "b77afd9b6c6af81af3ef6ff5c91c83ce48d95e571fb546d22f933159612021e8";
        "checks/nixos-vm-riscv64.nix" = "c6295ea7141632064d23a005317d9bdb12105e25f96654c156462726dbe85863";
        "checks/nixos-vm-riscv64.py" = "eba081d59f2168cfd0128db25d357e59bbdc8809c9a264c4734ef0712c9cd04b";
        "checks/non-nixos-aarch64-fix-f.nix" = "9fb5a9d25bb51b1e4ca169860bc9d8c10f39574606779d31c13281c4b0fb2923";
        "checks/non-nixos-aarch64-fix-f.py" = "1d4e5be08c95a2573fc68e8e370cd6461d90ae5d10403ba450fe7ca51a96de4a";
        "checks/non-nixos-aarch64-fix-sandbox-path.nix" = "379ec26d2937910a4ed9eafbf5b9e7487be162577fc48968fd99c817a04ec889";
        "checks/non-nixos-aarch64-fix-sandbox-path.py" = "8bf045e0b4b23bf68d3ecf204af1b5d5ddafc8b1c6376889869651512a38ea47";
        "checks/non-nixos-aarch64-no-sandbox.nix" = "ba77fbefe91b25cbe5dd5e25a81db6decc7d32417da453b3372a58bcccdf35cf";
        "checks/non-nixos-aarch64-no-sandbox.py" = "771611acfdbe4c71693e99aadfc5d2c4e919ee26249b5a1686a396b696fad1aa";
        "checks/non-nixos-aarch64.nix" = "7f895ffe373474713cf429b30219e0fb0b76fc56a3964e44218a1e33d82a7e98";
        "checks/non-nixos-aarch64.py" = "499bd68fd3ad50e2d2eb543e0365640f1a75bd8a06e296397ee11be4cc014bce";
        "checks/self-exec-under-emulation.nix" = "26d80eb5d5bdfaddc83cb7849156720077a96083c8a71f4129a7a942c9ac0bc3";
        "checks/self-exec-under-emulation.py" = "1e3a6e268f6f640871dd2ceff47ab0ce5fa5975b11b69fad50756a927765e90f";
        "checks/wrapped-interpreter-env-shebang.nix" = "c831a040bad5bb489408146cc445d79148d65ce5a6d8c6ece119875254f595a1";
        "checks/wrapped-interpreter-env-shebang.py" = "f5c1c3eaa1142ccc98b322e92811df7eb32d7b2b8484ed17c31fee48da9d3e7a";
        "labs/container-registered-emulator.toml" = "7dd99fa7581b9b55bb4d808334952c051a8d1a11af4df0532c8287ddd1d7afbf";
        "labs/emulated-compile-rust.toml" = "26392db08aa2db2b45d6084252561f48f5e2ba27b49530aa877af5adc825b5ce";
        "labs/emulated-compile.toml" = "7a3fe4563ced770bec7e628e8a0ac446ca7cb89129795073c68bee3b20e5e3fd";
        "labs/emulator-exec-foreign.toml" = "8133dfb4db61ab68321f149279ac89c13746cf4e86bd3d260facb07ff2a008f1";
        "labs/extra-platforms-unregistered.toml" = "e339a8eef9950dac6b10bf25fd985a4e51788522f3d235ebe05ce7f212eeb347";
        "labs/multiarch-uname.toml" = "f06983738e456977a40814c108b736dc58be16382d447d4f6f21d986a0a1f767";
        "labs/nix-5258-seccomp-emulated-nix.toml" = "23e8c21bf7d807af5fa8a67ac32dad717db118a7f07fc04821e56c4f87e1ea90";
        "labs/nix-daemon-trusted-user.toml" = "e3f50d085ff659c032716c1504bc5d15cfefafe29ac09a7f8b406ac6d0c62d75";
        "labs/nix-daemon-untrusted-settings.toml" = "1560e7053fcffcadf5687bd77f6ecac633c4f067f8b8641b7787aca755603e8c";
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
        "nix-5258-seccomp-emulated-nix" = import ./checks/nix-5258-seccomp-emulated-nix.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "nix-daemon-trusted-user" = import ./checks/nix-daemon-trusted-user.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "nix-daemon-untrusted-settings" = import ./checks/nix-daemon-untrusted-settings.nix {
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
