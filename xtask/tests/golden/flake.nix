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
        "checks/nixos-static-emulators.nix" = "f9ca414e40e70d64960f967e213a799149e325cb1f1f8f3f7245205997bfc578";
        "checks/nixos-static-emulators.py" = "be4a6d2600c83983adcc877007ba8bd9034fae2223982d4cbd66a1ae2fb14b86";
        "checks/non-nixos-aarch64.nix" = "8f59dc4d2d89bb0dc55894ae8cccdbdf68e5a2c96a4717e3735f8eb224446c03";
        "checks/non-nixos-aarch64.py" = "893f47ca8b71a78fd9aa3bdb7e58af99912bdd76e752903576207105959dff3b";
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
        "nixos-static-emulators" = import ./checks/nixos-static-emulators.nix { pkgs = pkgsFrom "nixpkgs"; };
        "non-nixos-aarch64" = import ./checks/non-nixos-aarch64.nix { pkgs = pkgsFrom "nixpkgs"; };
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
