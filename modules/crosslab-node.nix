# crosslab's NixOS test node: what every rendered checks/<lab>.nix has in
# common. Hand-written; the rendered checks set these options per lab.
#
# The node is offline (no substituters: a test VM has no network), holds the
# probe payloads in its store, and can pretend to be a Debian-like host by
# putting static qemu-user emulators where Debian's qemu-user-static does.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.crosslab;

  # One store directory per system with `busybox` and `sh -> busybox`: the
  # layout the probe commands expect under $CROSSLAB_PAYLOADS/<system>
  # (xtask/src/plan.rs). The build probe builds with `${dir}/sh` as builder,
  # so it must be a store path of its own (builtins.storePath needs no network).
  payloadFor =
    system: busybox:
    pkgs.runCommand "crosslab-payload-${system}" { } ''
      mkdir $out
      ln -s ${busybox}/bin/busybox $out/busybox
      ln -s busybox $out/sh
    '';

  # Debian's busybox-static, unpacked: a fixed-output fetch pinned by the
  # hash of Debian's Packages index (xtask/src/render/closure.rs), through
  # fetchurl's mirror://debian (pkgs/build-support/fetchurl/mirrors.nix:
  # Debian's redirector and a few mirrors, tried in turn).
  # A version a Debian point release supersedes leaves them all; the fetch
  # then fails naming the file, and closure.rs needs the new entry.
  # The binary `lab run` runs, and static: the cache has no static busybox
  # but the stdenv (pkgs/top-level/release.nix builds pkgsStatic.stdenv only).
  debBusybox =
    system: deb:
    pkgs.runCommand "crosslab-busybox-${system}"
      {
        src = pkgs.fetchurl {
          url = "mirror://debian/${deb.file}";
          inherit (deb) sha256;
        };
        nativeBuildInputs = [ pkgs.dpkg ];
      }
      ''
        dpkg-deb -x "$src" unpacked
        mkdir -p $out/bin
        for f in unpacked/bin/busybox unpacked/usr/bin/busybox; do
          if [ -f "$f" ]; then cp "$f" $out/bin/busybox; fi
        done
        test -x $out/bin/busybox
      '';

  payloads = pkgs.linkFarm "crosslab-payloads" (
    lib.mapAttrs payloadFor (cfg.payloads // lib.mapAttrs debBusybox cfg.payloadDebs)
  );

  # <triple>-gcc on PATH, named as Debian names its cross compilers: what the
  # compile probe times the emulated compiler against.
  crossCompilers = pkgs.runCommand "crosslab-cross-compilers" { } (
    "mkdir -p $out/bin\n"
    + lib.concatStrings (
      lib.mapAttrsToList (
        name: cc:
        "ln -s ${cc}/bin/${cc.targetPrefix}gcc $out/bin/${lib.escapeShellArg name}\n"
      ) cfg.crossCompilers
    )
  );

  # $CROSSLAB_TOOLCHAINS/<system>: the compile probe builds with `${cc}/bin/cc`.
  toolchains = pkgs.linkFarm "crosslab-toolchains" cfg.toolchains;
in
{
  options.crosslab = {
    description = mkOption {
      type = types.str;
      description = "What the lab models, from its spec; kept at /etc/crosslab/description.";
    };

    payloads = mkOption {
      type = types.attrsOf types.package;
      default = { };
      example = lib.literalExpression ''{ "x86_64-linux" = pkgs.pkgsStatic.busybox; }'';
      description = "A self-contained busybox (`bin/busybox`) per Nix system double, for the probes to run; see payloadDebs for the rendered checks' own.";
    };

    payloadDebs = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            file = mkOption {
              type = types.str;
              description = "The package's path in Debian's archive (its Packages entry's Filename).";
            };
            sha256 = mkOption {
              type = types.str;
              description = "The package's SHA256, from the same entry.";
            };
          };
        }
      );
      default = { };
      description = "Per Nix system double, a Debian busybox-static package whose busybox is the payload.";
    };

    crossCompilers = mkOption {
      type = types.attrsOf types.package;
      default = { };
      example = lib.literalExpression ''{ "aarch64-linux-gnu-gcc" = pkgs.pkgsCross.aarch64-multiplatform.stdenv.cc; }'';
      description = "Cross compilers put on PATH under the given names (the compile probe times them).";
    };

    toolchains = mkOption {
      type = types.attrsOf types.package;
      default = { };
      example = lib.literalExpression ''{ "aarch64-linux" = nixpkgs.legacyPackages.aarch64-linux.gcc; }'';
      description = ''
        A C compiler per Nix system double that runs on that system and targets
        it (with `bin/cc`), for the compile probe: cross-built here, run in the
        VM under emulation inside a sandboxed build for the system.
      '';
    };

    toolchainsDir = mkOption {
      type = types.str;
      default = "/etc/crosslab/toolchains";
      readOnly = true;
      description = "Where the toolchains are in the VM: the value of CROSSLAB_TOOLCHAINS.";
    };

    payloadsDir = mkOption {
      type = types.str;
      default = "/etc/crosslab/payloads";
      readOnly = true;
      description = "Where the payloads are in the VM: the value of CROSSLAB_PAYLOADS.";
    };

    fhsEmulators = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "aarch64" ];
      description = ''
        qemu architecture names whose static user-mode emulator is copied to
        /usr/bin/qemu-<arch>-static, where Debian's qemu-user-static,
        Ubuntu and tonistiigi/binfmt put it. A copy, not a link: a sandboxed
        build must not see it unless a lab puts it there.
      '';
    };

    fhsDynamicEmulators = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "aarch64" ];
      description = ''
        qemu architecture names whose dynamically linked user-mode emulator
        is linked at /usr/bin/qemu-<arch>, where Debian's qemu-user puts it
        (a lab with `emulator = "dynamic"` and `interpreter = "fhs"`).
      '';
    };
  };

  config = {
    environment.etc."crosslab/description".text = cfg.description;
    environment.etc."crosslab/payloads".source = payloads;
    # Registered in the VM's Nix database, so builtins.storePath accepts them.
    virtualisation.additionalPaths = [ payloads ] ++ lib.optional (cfg.toolchains != { }) toolchains;
    environment.etc."crosslab/toolchains" = lib.mkIf (cfg.toolchains != { }) { source = toolchains; };
    environment.systemPackages = lib.optional (cfg.crossCompilers != { }) crossCompilers;
    # Memory and disk: the payloads and toolchains reach the VM through
    # additionalPaths, that is the host's store shared read-only over 9p
    # (qemu-vm.nix, useNixStoreImage off), so even the 600 MB Rust ones take
    # neither the guest's RAM nor its disk. The writable store on top is
    # tmpfs (writableStoreUseTmpfs) and holds only the probes' small outputs;
    # build directories are on /tmp, on the disk. The rendered check raises
    # memorySize where its probes compile (render/mod.rs, MEMORY_*_MIB).

    systemd.tmpfiles.rules =
      map (
        arch: "C+ /usr/bin/qemu-${arch}-static - - - - ${pkgs.pkgsStatic.qemu-user}/bin/qemu-${arch}"
      ) cfg.fhsEmulators
      ++ map (arch: "L+ /usr/bin/qemu-${arch} - - - - ${pkgs.qemu-user}/bin/qemu-${arch}") cfg.fhsDynamicEmulators;

    # No network in a test VM: never wait for a binary cache.
    nix.settings.substituters = lib.mkForce [ ];
    # A lab that asks for the sandbox must get it, or fail.
    nix.settings.sandbox-fallback = false;
  };
}
