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
        "checks/nixos-static-emulators.nix" = "b69173f5a1972b6d004a5cbafe8358095118b84188eb3c727f80b3edccb45f1c";
        "checks/nixos-static-emulators.py" = "08411f80ee4a3883aaa9d6ddf6c6067e2713794c99c930dc3d75058f46e685d8";
        "checks/non-nixos-aarch64.nix" = "223f588a8fc85446584a292c52bc46df646a008a4953c62e82434baa6607977d";
        "checks/non-nixos-aarch64.py" = "1d2c7696ca0a1e98cab8ace4f6f9bc434558a7a8d4e5d10bbf9ed524f4f8e865";
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
        "nixos-static-emulators" = import ./checks/nixos-static-emulators.nix {
          pkgs = pkgsFrom "nixpkgs";
          pkgsOn = pkgsOnFrom "nixpkgs";
        };
        "non-nixos-aarch64" = import ./checks/non-nixos-aarch64.nix {
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
      };

      # For the hand-written Nix (modules/). The rendered files are written by
      # `cargo xtask lab render`; reformatting them makes `--check` call them stale.
      formatter.${system} = pkgs.nixfmt-rfc-style;
    };
}
