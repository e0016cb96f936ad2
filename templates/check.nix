# generated from {{ source }} by `cargo xtask lab render`; do not edit
# The lab `{{ name }}` as a NixOS test: one VM modelling a {{ host }} host,
# every probe of `cargo xtask lab show {{ name }}` run in it (checks/{{ name }}.py).
# It is {{ output }}.x86_64-linux.{{ name }} (xtask/src/render/closure.rs says why).
{%- for line in origins %}
# {{ line }}
{%- endfor %}
# pkgsOn: the package set that runs on a system, natively built (the
# flake's legacyPackages of the same nixpkgs).
{
  pkgs,
  pkgsOn ? system: import pkgs.path { inherit system; },
}:
pkgs.testers.runNixOSTest {
  name = {{ name_nix }};
  # Room for every probe's timeout scaled for TCG, where KVM is missing.
  meta.timeout = {{ timeout }};
  globalTimeout = {{ timeout }};

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../modules/crosslab-node.nix ];
      crosslab.description = {{ description }};
{%- if let Some(memory) = memory_mib %}
      virtualisation.memorySize = {{ memory }};
{%- endif %}
      crosslab.payloadDebs = {
{%- for payload in payloads %}
        {{ payload.system }} = {{ payload.busybox }};
{%- endfor %}
      };
{%- if !toolchains.is_empty() %}
      crosslab.toolchains = {
{%- for toolchain in toolchains %}
        {{ toolchain.system }} = {{ toolchain.busybox }};
{%- endfor %}
      };
{%- endif %}
{%- if !cross_compilers.is_empty() %}
      crosslab.crossCompilers = {
{%- for cc in cross_compilers %}
        {{ cc.system }} = {{ cc.busybox }};
{%- endfor %}
      };
{%- endif %}
{%- for line in no_cross %}
      # {{ line }}
{%- endfor %}
{%- if !fhs_emulators.is_empty() %}
      crosslab.fhsEmulators = [ {% for arch in fhs_emulators %}{{ arch }} {% endfor %}];
{%- endif %}
{%- if !fhs_dynamic_emulators.is_empty() %}
      crosslab.fhsDynamicEmulators = [ {% for arch in fhs_dynamic_emulators %}{{ arch }} {% endfor %}];
{%- endif %}
{%- if !emulated_systems.is_empty() %}
      boot.binfmt.emulatedSystems = [ {% for system in emulated_systems %}{{ system }} {% endfor %}];
{%- endif %}
{%- if prefer_static_emulators %}
      boot.binfmt.preferStaticEmulators = true;
{%- endif %}
      nix.settings = {
        sandbox = {{ sandbox }};
        extra-sandbox-paths = [ {% for path in extra_sandbox_paths %}{{ path }} {% endfor %}];
        extra-platforms = [ {% for system in extra_platforms %}{{ system }} {% endfor %}];
{%- if let Some(features) = system_features %}
        system-features = [ {% for feature in features %}{{ feature }} {% endfor %}];
{%- endif %}
      };
    };

  # The script is checks/{{ name }}.py; a JSON prelude hands it what it needs
  # to know about the node, and modules/crosslab_probe.py how to run a probe.
  testScript =
    { nodes, ... }:
    let
      node = {
        payloads_dir = nodes.machine.crosslab.payloadsDir;
        tcg_slowdown = {{ tcg_slowdown }};
{%- if !toolchains.is_empty() %}
        toolchains_dir = nodes.machine.crosslab.toolchainsDir;
{%- endif %}
      };
    in
    "import json\ncrosslab_node = json.loads(${builtins.toJSON (builtins.toJSON node)})\n"
    + builtins.readFile ../modules/crosslab_probe.py
    + builtins.readFile ./{{ name }}.py;
}
