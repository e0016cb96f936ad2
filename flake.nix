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
        "checks/container-registered-emulator.nix" = "da7e91424c9d8d14a1d58595dd73130abc5736c0dbab66a544a5a449bd17519f";
        "checks/container-registered-emulator.py" = "2a478d3383cfb9cfb0317df2891c4a81d55b0e2d2e386fe759d141dd062d2f90";
        "checks/emulated-compile-rust.nix" = "2e68c430d553f63bd4cd282d319faef0ea3948cf8008cc9122c09a3e55a40a5c";
        "checks/emulated-compile-rust.py" = "9a4135d2b3f412c631a5877eb3aaae2a7dd257ee9721c9be6dfd588575d21df5";
        "checks/emulated-compile.nix" = "acfb39208710390ed2b5fbdffda1eaf2996181e406d316d8282acb36bd668c7f";
        "checks/emulated-compile.py" = "0f0d5b768151dcd844148b582be0c555accf3a970ac61aa1bb05340c1013ac4a";
        "checks/emulator-exec-foreign.nix" = "48ce829c6684a98085176f2766be92bb2335d8d6d062f8f9daebd5e6a6f37f6b";
        "checks/emulator-exec-foreign.py" = "d7a323bd388a506897803cf909c139aa8288668f2a81548920aec14bfbb72fc0";
        "checks/extra-platforms-unregistered.nix" = "78ad5bf8c27c7808e78214a3d01a1c5f06d3c7918d9c344970917ac72ea02d96";
        "checks/extra-platforms-unregistered.py" = "67dbfc3a344dc600d9b0482c92265e93d992d0a9b3345cb6e82a2507a5045ecd";
        "checks/multiarch-uname.nix" = "5b71ca536a65f3e5fb1b6f3763ae18a8281a067cdf3f82c9647ee8a62ca2d04b";
        "checks/multiarch-uname.py" = "d27cb3f2ed6bd3d400576524fe845eac12e7906fafe8e60c5cca62369a15c486";
        "checks/nix-5258-seccomp-emulated-nix.nix" = "6193a7575a150ece6dcad428b8e82dfc6c3f3cf2a7aff9ec20e4edcc35334a77";
        "checks/nix-5258-seccomp-emulated-nix.py" = "6ac7e4b47c4e9d834bbd5cff66818eecc25b6fbf4736f3c46801a2efb271fa94";
        "checks/nix-7783-proc-partly-hidden.nix" = "c317fe2af7626c8f722b3ed7b947965d9b788297def9c8c51d86b285830b0830";
        "checks/nix-7783-proc-partly-hidden.py" = "dce074abc1206b2bc2d6e56325cb8acd8ddbbef929c0d9ed3a7d91bdfde3db0c";
        "checks/nix-daemon-trusted-user.nix" = "00ed5dac1dc59c3b8ca88170a188797b94d087ea16540f7d0248284d4599f07c";
        "checks/nix-daemon-trusted-user.py" = "e4fc471a182d2055c5ff618ab83794e5db0514510c6800f3c38d1eaa903f8ba3";
        "checks/nix-daemon-untrusted-settings.nix" = "011b5c580e8f851a1121fb98fafe9bab226222ad35f1b34ffc3378bd2a08afe0";
        "checks/nix-daemon-untrusted-settings.py" = "a68be922703a2de2eecca67d406a5bf930aa08f11ad8260e4f629e5acfb19c1a";
        "checks/nixos-chroot-dynamic-emulator-fix-static.nix" = "6334e526b80e8161970d046e32690a0c09370c95f604f35996117e2082b33852";
        "checks/nixos-chroot-dynamic-emulator-fix-static.py" = "3a3805484a735cd617f66867a1930974e5ed9f3a33dba1bce5709174b4c59711";
        "checks/nixos-chroot-dynamic-emulator.nix" = "d4bbf98f787cc2bdbc18702dc21dd6be7e4fc91d3158fead9f0e6f8a7a6bb3a9";
        "checks/nixos-chroot-dynamic-emulator.py" = "c30c4b27a4e388a7f7c51292f8b8ff033c9c70e0667b18636edec3aab39228a0";
        "checks/nixos-static-emulators.nix" = "b69173f5a1972b6d004a5cbafe8358095118b84188eb3c727f80b3edccb45f1c";
        "checks/nixos-static-emulators.py" = "08411f80ee4a3883aaa9d6ddf6c6067e2713794c99c930dc3d75058f46e685d8";
        "checks/nixos-vm-aarch64.nix" = "20f1dcc4088d249c9160612d8d71ed52584d0f11242bb618cea480ff3329174f";
        "checks/nixos-vm-aarch64.py" = "abd9571e20a74aa2626326b4e3906c27b2a121ce50b5646233262468c8b5d11f";
        "checks/nixos-vm-riscv64.nix" = "fa98bb9ea71bc90dc997f67e106863a62ca04616b291042ad04d29b0ec150332";
        "checks/nixos-vm-riscv64.py" = "66bc25f03a85bc0caef99d5bf5f0839cd7f871bf0d0398f056b25bfedbb24d4d";
        "checks/nixos-wsl-552-run-binfmt-missing.nix" = "c99230a69469a31a47950ff9f44d8743fd3ffd9ffea990569863962f214ae5bb";
        "checks/nixos-wsl-552-run-binfmt-missing.py" = "bc2245b76ea39f4535512f1c275d642c2b9d44baa1f0cc8c086a1d61cf6c8748";
        "checks/nixpkgs-218465-own-system-emulated.nix" = "e4a02fab07d30bb03c0bfa36025fe6b08aabea68f81f57446b4688a49ebb451a";
        "checks/nixpkgs-218465-own-system-emulated.py" = "a5e7218e326e13947798d6732250c39c291d91c6abd8a4c78e115b6ac890d9f9";
        "checks/nixpkgs-61537-ci.nix" = "e2dddd480aca3c03bc8cd61b51306036dcd9639954e525b7383bd9c8576403de";
        "checks/nixpkgs-61537-ci.py" = "824ea66d91073795a056354446bf06152c4f126f91974ece107318362ba74259";
        "checks/nixpkgs-61537-laptop.nix" = "6267744ea8fbeb49636385849f7645d6f49ef51eb45b23af017ce25627ce0f38";
        "checks/nixpkgs-61537-laptop.py" = "6010825c4f7948cedab067360e3bfc5e8dd0b46d977f21820ea4b7b624df941f";
        "checks/non-nixos-aarch64-fix-f.nix" = "979959ee21518f0e83e06f5bf3d3935ef3a377b4680a67c39f999625148561d8";
        "checks/non-nixos-aarch64-fix-f.py" = "6f89c6aba3fc2cae854bd69d8a7028da06eeea9d5f30e470c0e1ac86178adc87";
        "checks/non-nixos-aarch64-fix-sandbox-path.nix" = "7898a8eb557ffce2b48dab97587b5a0baedbdec3b1fa0de10312aa6bb6ba5f7e";
        "checks/non-nixos-aarch64-fix-sandbox-path.py" = "3ea1f2f5aed756abf9ef0ea1e7171045ee3134f6a773a2c6151a66aebaac57f2";
        "checks/non-nixos-aarch64-no-sandbox.nix" = "bc50428c2fc568d74899b724166f04700a13629f916937a98223b2ff427f53fe";
        "checks/non-nixos-aarch64-no-sandbox.py" = "d13812c100371f805f8f483c1574300b0434f8221412cf12cf5c0eaadd633490";
        "checks/non-nixos-aarch64.nix" = "223f588a8fc85446584a292c52bc46df646a008a4953c62e82434baa6607977d";
        "checks/non-nixos-aarch64.py" = "1d2c7696ca0a1e98cab8ace4f6f9bc434558a7a8d4e5d10bbf9ed524f4f8e865";
        "checks/raspberry-pi-nix-129-platform-missing.nix" = "3558376e2eb1030c350b46a4bf31b514cdd97edcf42abf2d5e5ea5694e6e7b2a";
        "checks/raspberry-pi-nix-129-platform-missing.py" = "d66f9fb06a746ff787052aae8e74207a84d6012c2149862370d464e47af87734";
        "checks/self-exec-under-emulation.nix" = "a20203c49f8a53677d29dd59f8a0cb01818dbaaf1166e405590a115794c81bd8";
        "checks/self-exec-under-emulation.py" = "1e3a6e268f6f640871dd2ceff47ab0ce5fa5975b11b69fad50756a927765e90f";
        "checks/wrapped-interpreter-env-shebang.nix" = "ad34c8017f22b7caa791a0b664cd683d0157830e817a7ec05607aa7f5eff7c72";
        "checks/wrapped-interpreter-env-shebang.py" = "ca597daed1e18cd62e5e2b797f5e848780bd1a1a965c76f7d3d66900f9902251";
        "labs/container-registered-emulator.toml" = "7dd99fa7581b9b55bb4d808334952c051a8d1a11af4df0532c8287ddd1d7afbf";
        "labs/emulated-compile-rust.toml" = "26392db08aa2db2b45d6084252561f48f5e2ba27b49530aa877af5adc825b5ce";
        "labs/emulated-compile.toml" = "7a3fe4563ced770bec7e628e8a0ac446ca7cb89129795073c68bee3b20e5e3fd";
        "labs/emulator-exec-foreign.toml" = "8133dfb4db61ab68321f149279ac89c13746cf4e86bd3d260facb07ff2a008f1";
        "labs/extra-platforms-unregistered.toml" = "e339a8eef9950dac6b10bf25fd985a4e51788522f3d235ebe05ce7f212eeb347";
        "labs/multiarch-uname.toml" = "f06983738e456977a40814c108b736dc58be16382d447d4f6f21d986a0a1f767";
        "labs/nix-5258-seccomp-emulated-nix.toml" = "23e8c21bf7d807af5fa8a67ac32dad717db118a7f07fc04821e56c4f87e1ea90";
        "labs/nix-7783-proc-partly-hidden.toml" = "ab831b112e4794941e55cf378caf94920b1c441ba0ca19e8180ae1e0f154f556";
        "labs/nix-daemon-trusted-user.toml" = "e3f50d085ff659c032716c1504bc5d15cfefafe29ac09a7f8b406ac6d0c62d75";
        "labs/nix-daemon-untrusted-settings.toml" = "1560e7053fcffcadf5687bd77f6ecac633c4f067f8b8641b7787aca755603e8c";
        "labs/nixos-chroot-dynamic-emulator-fix-static.toml" = "4a11e27b16a0bfa5d260dad84c04b80cca89d1736da5dc9782c6a8934da8b2d7";
        "labs/nixos-chroot-dynamic-emulator.toml" = "b45ded9d9bb06c70bc8ac86e6860fcbcccccd9dd540560c5c0b2e072f773918f";
        "labs/nixos-static-emulators.toml" = "d4804cf48fff86ccce3ab171ceed151002d4d1290ba6c143ef0a91196214b3f3";
        "labs/nixos-vm-aarch64.toml" = "632ae6ecd7af188902b67823a05940d764834002939214d9545a7f7ef85b4c46";
        "labs/nixos-vm-riscv64.toml" = "e5591e532feabfecc1976758202fa9031acca60c57932d32e4d901e5d3972e3d";
        "labs/nixos-wsl-552-run-binfmt-missing.toml" = "8998788e2dee56a916110350c21612a4a904e3f1280987c73920afa1aec40558";
        "labs/nixpkgs-218465-own-system-emulated.toml" = "7a862c3da6b2b170d96e0a96ad43503e0c360b5acd445c75bf05904a6aa4a962";
        "labs/nixpkgs-61537-ci.toml" = "58259b4f3e8b2d1ce2cc12fb1d33737bc6da4e0a8bf790c22dfcea1d28d31d29";
        "labs/nixpkgs-61537-laptop.toml" = "687856dc2ea76d8995500ca53b5fe1ee6d626cdaa2ebcb6aa310dc611eb808a8";
        "labs/non-nixos-aarch64-fix-f.toml" = "d3799a219ac81316577491117448e2e32b594261d517062ae86f57e4ef3727ad";
        "labs/non-nixos-aarch64-fix-sandbox-path.toml" = "e996f3c37096a3b400db2f0bfc7e646546fd51de159bef38e257588e04e16c87";
        "labs/non-nixos-aarch64-no-sandbox.toml" = "e4b89e5aa37c57d19508a192b4ddb134ce491f936f288d08c4b2626ee8fa437d";
        "labs/non-nixos-aarch64.toml" = "faf1aabb681cffa501ca22ad5fc7c51e43d7d5b3e9d37e7cd5c791ae46dc1a7b";
        "labs/raspberry-pi-nix-129-platform-missing.toml" = "508d0a68a4beb34d3dc90d13a39c84fcf5e01ce3545084b05f7b268113899ce4";
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
      # Every check whose VM comes from the NixOS binary cache and fetches pinned by
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
        "nix-7783-proc-partly-hidden" = import ./checks/nix-7783-proc-partly-hidden.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "nix-daemon-trusted-user" = import ./checks/nix-daemon-trusted-user.nix {
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
        "nixos-wsl-552-run-binfmt-missing" = import ./checks/nixos-wsl-552-run-binfmt-missing.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "nixpkgs-61537-ci" = import ./checks/nixpkgs-61537-ci.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "nixpkgs-61537-laptop" = import ./checks/nixpkgs-61537-laptop.nix {
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
        "raspberry-pi-nix-129-platform-missing" = import ./checks/raspberry-pi-nix-129-platform-missing.nix {
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
