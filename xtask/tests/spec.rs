//! Lab spec validation: what each mistake in a spec is told, and that the
//! contract's own example is accepted as written.

use std::path::Path;

use expect_test::{expect, Expect};
use xtask::spec;

/// Parses `text` as `labs/t.toml` and compares the error (or a summary of the
/// accepted lab) with `expected`.
fn check(text: &str, expected: Expect) {
    let actual = match spec::parse("t", Path::new("labs/t.toml"), text) {
        Ok(lab) => format!(
            "ok: host={} systems={:?} interpreter={} flags={} sandbox={} paths={:?} platforms={:?} probes={:?}",
            lab.host.as_str(),
            lab.systems.iter().map(|s| s.double).collect::<Vec<_>>(),
            lab.binfmt.interpreter.as_str(),
            lab.binfmt.flags,
            lab.nix.sandbox,
            lab.nix.extra_sandbox_paths,
            lab.nix.extra_platforms,
            lab.probes.iter().map(|p| format!("{}:{}", p.kind.as_str(), p.expect.as_str())).collect::<Vec<_>>(),
        ),
        Err(e) => e.to_string(),
    };
    expected.assert_eq(&actual);
}

const HEAD: &str = "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n";

fn with_head(rest: &str) -> String {
    format!("{HEAD}{rest}")
}

#[test]
fn design_contract_example_is_accepted_as_written() {
    check(
        r#"
description = "Ubuntu-like host, qemu-user-static without the F flag"
host = "non-nixos"                  # "non-nixos" | "nixos": the kind of machine modelled
systems = ["aarch64-linux"]         # Nix system doubles to emulate

[binfmt]
interpreter = "fhs"
flags = "P"                         # kernel flags, any of "POCF"

[nix]
sandbox = true
extra-sandbox-paths = []
extra-platforms = ["aarch64-linux"] # default: the lab's systems

[[probe]]
kind = "binfmt"        # entry exists + enabled; interpreter and flags as configured
[[probe]]
kind = "nix-config"    # Nix reports the configured extra-platforms / sandbox paths
[[probe]]
kind = "exec"          # a static foreign binary runs; `uname -m` is the target's
[[probe]]
kind = "build"         # sandboxed nix build of a derivation with system = target
expect = "fail"        # default "pass"
expect-output = "No such file or directory"
[[probe]]
kind = "command"       # escape hatch: run = "...", expect / expect-output as above
run = "true"
"#,
        expect![[
            r#"ok: host=non-nixos systems=["aarch64-linux"] interpreter=fhs flags=P sandbox=true paths=[] platforms=["aarch64-linux"] probes=["binfmt:pass", "nix-config:pass", "exec:pass", "build:fail", "command:pass"]"#
        ]],
    );
}

#[test]
fn defaults_fill_what_the_spec_leaves_out() {
    check(
        &with_head("[[probe]]\nkind = \"build\"\n"),
        expect![[
            r#"ok: host=non-nixos systems=["aarch64-linux"] interpreter=fhs flags=P sandbox=true paths=[] platforms=["aarch64-linux"] probes=["build:pass"]"#
        ]],
    );
}

#[test]
fn nixos_interpreter_is_the_default_on_nixos_and_none_takes_no_flags() {
    check(
        "description = \"d\"\nhost = \"nixos\"\nsystems = [\"riscv64-linux\"]\n[[probe]]\nkind = \"binfmt\"\n",
        expect![[
            r#"ok: host=nixos systems=["riscv64-linux"] interpreter=nixos flags=P sandbox=true paths=[] platforms=["riscv64-linux"] probes=["binfmt:pass"]"#
        ]],
    );
    check(
        &with_head("[binfmt]\ninterpreter = \"none\"\n[[probe]]\nkind = \"exec\"\nexpect = \"fail\"\n"),
        expect![[
            r#"ok: host=non-nixos systems=["aarch64-linux"] interpreter=none flags= sandbox=true paths=[] platforms=["aarch64-linux"] probes=["exec:fail"]"#
        ]],
    );
}

#[test]
fn unknown_key_suggests_the_nearest_valid_one() {
    check(
        &with_head("[binfmt]\nflag = \"P\"\n[[probe]]\nkind = \"build\"\n"),
        expect![[r#"
            invalid lab spec `labs/t.toml:5:1`: `binfmt.flag`: unknown key
              help: did you mean `binfmt.flags`?"#]],
    );
    check(
        &with_head("[[probe]]\nkind = \"build\"\nexpect_output = \"x\"\n"),
        expect![[r#"
            invalid lab spec `labs/t.toml:6:1`: `probe[0].expect_output`: unknown key
              help: did you mean `probe[0].expect-output`?"#]],
    );
    check(
        &format!("{HEAD}descripton = \"x\"\n[[probe]]\nkind = \"build\"\n"),
        expect![[r#"
            invalid lab spec `labs/t.toml:4:1`: `descripton`: unknown key
              help: did you mean `description`?"#]],
    );
}

#[test]
fn unknown_system_suggests_the_closest_known_ones() {
    check(
        "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"arm-linux\"]\n[[probe]]\nkind = \"exec\"\n",
        expect![[r#"
            invalid lab spec `labs/t.toml:3:12`: `systems[0]`: unknown system `arm-linux`
              help: did you mean `armv7l-linux`, `armv6l-linux`, `armv5tel-linux`?"#]],
    );
    check(
        "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linxu\"]\n[[probe]]\nkind = \"exec\"\n",
        expect![[r#"
            invalid lab spec `labs/t.toml:3:12`: `systems[0]`: unknown system `aarch64-linxu`
              help: did you mean `aarch64-linux`?"#]],
    );
}

#[test]
fn darwin_targets_are_explained() {
    check(
        "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-darwin\"]\n[[probe]]\nkind = \"exec\"\n",
        expect![[r#"
            invalid lab spec `labs/t.toml:3:12`: `systems[0]`: `aarch64-darwin` cannot be emulated: binfmt_misc hands Linux executables to an emulator, and no emulator runs macOS (Mach-O) binaries on Linux
              help: build darwin targets on a Mac (or a remote darwin builder); crosslab emulates Linux systems only"#]],
    );
}

#[test]
fn flags_outside_pocf_are_rejected() {
    check(
        &with_head("[binfmt]\nflags = \"PX\"\n[[probe]]\nkind = \"build\"\n"),
        expect![[r#"
            invalid lab spec `labs/t.toml:5:9`: `binfmt.flags`: `X` is not a binfmt_misc flag
              help: flags are any of P (preserve argv[0]), O (open binary), C (credentials), F (fix binary: open the interpreter at registration)"#]],
    );
    check(
        &with_head("[binfmt]\nflags = \"pf\"\n[[probe]]\nkind = \"build\"\n"),
        expect![[r#"
            invalid lab spec `labs/t.toml:5:9`: `binfmt.flags`: `p` is not a binfmt_misc flag
              help: flags are upper case: `flags = "PF"`"#]],
    );
}

#[test]
fn nixos_interpreter_needs_a_nixos_host() {
    check(
        &with_head("[binfmt]\ninterpreter = \"nixos\"\n[[probe]]\nkind = \"build\"\n"),
        expect![[r#"
            invalid lab spec `labs/t.toml:5:15`: `binfmt.interpreter`: `nixos` (boot.binfmt.emulatedSystems) needs `host = "nixos"`
              help: set `host = "nixos"`, or use `interpreter = "fhs"` for a Debian/Ubuntu-style registration"#]],
    );
}

#[test]
fn the_hosts_own_system_in_emulated_systems_fails_nixos_assertion() {
    // binfmt.nix: `assert system != pkgs.stdenv.hostPlatform.system;` (nixpkgs#218465).
    // The lab models this x86_64 machine; i686-linux, which it runs natively,
    // is registered as the module does and stays valid.
    assert_eq!(std::env::consts::ARCH, "x86_64", "the expected text names the x86_64 host");
    check(
        "description = \"d\"\nhost = \"nixos\"\nsystems = [\"aarch64-linux\", \"i686-linux\", \"x86_64-linux\"]\n[[probe]]\nkind = \"binfmt\"\n",
        expect![[r#"
            invalid lab spec `labs/t.toml:3:43`: `systems[2]`: `x86_64-linux` is the x86_64 NixOS host's own system: boot.binfmt.emulatedSystems rejects it, nixos/modules/system/boot/binfmt.nix fails with "assertion '(system != (pkgs).stdenv.hostPlatform.system)' failed" (nixpkgs#218465: registered, the entry took over every native binary and the machine stopped booting)
              help: remove `x86_64-linux` from `systems` (the host runs it itself), or model a non-NixOS host with `host = "non-nixos"`; to reproduce nixpkgs#218465, model a release before the assertion: `binfmt.nixos-release = "23.11"`"#]],
    );
    // The same through the NixOS registration tool.
    check(
        "description = \"d\"\nhost = \"nixos\"\nsystems = [\"x86_64-linux\"]\n[binfmt]\ntool = \"nixos-dynamic\"\n[[probe]]\nkind = \"binfmt\"\n",
        expect![[r#"
            invalid lab spec `labs/t.toml:3:12`: `systems[0]`: `x86_64-linux` is the x86_64 NixOS host's own system: boot.binfmt.emulatedSystems rejects it, nixos/modules/system/boot/binfmt.nix fails with "assertion '(system != (pkgs).stdenv.hostPlatform.system)' failed" (nixpkgs#218465: registered, the entry took over every native binary and the machine stopped booting)
              help: remove `x86_64-linux` from `systems` (the host runs it itself), or model a non-NixOS host with `host = "non-nixos"`; to reproduce nixpkgs#218465, model a release before the assertion: `binfmt.nixos-release = "23.11"`"#]],
    );
    check(
        "description = \"d\"\nhost = \"nixos\"\nsystems = [\"aarch64-linux\", \"i686-linux\"]\n[[probe]]\nkind = \"binfmt\"\n",
        expect![[r#"ok: host=nixos systems=["aarch64-linux", "i686-linux"] interpreter=nixos flags=P sandbox=true paths=[] platforms=["aarch64-linux", "i686-linux"] probes=["binfmt:pass"]"#]],
    );
}

#[test]
fn the_nixos_release_is_one_of_the_modelled_ones_and_needs_a_nixos_host() {
    check(
        "description = \"d\"\nhost = \"nixos\"\nsystems = [\"aarch64-linux\"]\n[binfmt]\nnixos-release = \"23.1\"\n[[probe]]\nkind = \"binfmt\"\n",
        expect![[r#"
            invalid lab spec `labs/t.toml:5:17`: `binfmt.nixos-release`: `23.1` is not allowed
              help: did you mean "23.11"? allowed: "22.05", "22.11", "23.05", "23.11", "24.05", "24.11", "25.05""#]],
    );
    check(
        "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n[binfmt]\nnixos-release = \"22.05\"\n[[probe]]\nkind = \"binfmt\"\n",
        expect![[r#"
            invalid lab spec `labs/t.toml:5:17`: `binfmt.nixos-release`: `22.05` is a release of NixOS's boot.binfmt module: it needs `host = "nixos"`
              help: set `host = "nixos"`, or remove `nixos-release`"#]],
    );
}

#[test]
fn the_218465_lab_is_valid_before_the_assertion_and_refused_by_it_from_24_05() {
    // labs/nixpkgs-218465-own-system-emulated.toml names 23.11; the same lab
    // on the default release (25.05) and on 24.05 fails NixOS's assertion.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../labs/nixpkgs-218465-own-system-emulated.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let lab = spec::parse("nixpkgs-218465-own-system-emulated", &path, &text).unwrap();
    assert_eq!(lab.binfmt.nixos_release.name, "23.11");
    let release_line = text.lines().find(|l| l.starts_with("nixos-release")).expect("the lab names its release");
    for replacement in ["", "nixos-release = \"24.05\""] {
        let other = text.replace(release_line, replacement);
        let err = spec::parse("t", Path::new("labs/t.toml"), &other).unwrap_err().to_string();
        assert!(err.contains(xtask::systems::NIXOS_OWN_SYSTEM_ASSERTION), "{replacement:?}: {err}");
    }
}

#[test]
fn empty_systems_and_command_without_run_are_rejected() {
    check(
        "description = \"d\"\nhost = \"non-nixos\"\nsystems = []\n[[probe]]\nkind = \"exec\"\n",
        expect![[r#"
            invalid lab spec `labs/t.toml:3:11`: `systems`: no systems: a lab emulates at least one system
              help: add e.g. `systems = ["aarch64-linux"]`"#]],
    );
    check(
        &with_head("[[probe]]\nkind = \"command\"\n"),
        expect![[r#"
            invalid lab spec `labs/t.toml:4:1`: `probe[0].run`: a `command` probe needs the shell command to run
              help: add `run = "…"`; it sees the target system in $CROSSLAB_SYSTEM"#]],
    );
}

#[test]
fn expect_is_pass_or_fail() {
    check(
        &with_head("[[probe]]\nkind = \"build\"\nexpect = \"failure\"\n"),
        expect![[r#"
            invalid lab spec `labs/t.toml:6:10`: `probe[0].expect`: `failure` is not allowed
              help: did you mean "fail"? allowed: "pass", "fail""#]],
    );
}

#[test]
fn toml_syntax_errors_give_line_and_column() {
    check(
        &with_head("[[probe]]\nkind = \"build\nexpect = \"fail\"\n"),
        expect![[r#"
            invalid lab spec `labs/t.toml:5:14`: TOML syntax error: invalid basic string, expected `"`
              help: fix the TOML syntax; see the spec format in README.md"#]],
    );
}

#[test]
fn sandbox_paths_with_spaces_cannot_be_expressed_in_nix_conf() {
    check(
        &with_head("[nix]\nextra-sandbox-paths = [\"/opt/my qemu\"]\n[[probe]]\nkind = \"build\"\n"),
        expect![[r#"
            invalid lab spec `labs/t.toml:5:24`: `nix.extra-sandbox-paths[0]`: `/opt/my qemu` contains white space, and nix.conf splits values on white space
              help: use a path without spaces (a symlink to it works)"#]],
    );
}

#[test]
fn a_file_that_is_not_text_is_rejected_by_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("binary.toml");
    std::fs::write(&path, b"description = \"\xff\xfe\"\n").unwrap();
    let err = spec::load(&path).unwrap_err().to_string();
    assert!(err.contains("is not UTF-8 text"), "{err}");
    assert!(err.contains("binary.toml"), "{err}");
}

#[test]
fn every_shipped_lab_validates() {
    let labs = spec::all_lab_files(&xtask::labs_dir(&xtask::project_root())).unwrap();
    assert!(labs.len() >= 9, "expected the catalogue in labs/, found {labs:?}");
    for path in labs {
        spec::load(&path).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn lab_check_reports_every_invalid_spec_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad_system = dir.path().join("bad-system.toml");
    std::fs::write(&bad_system, "description = \"x\"\nhost = \"non-nixos\"\nsystems = [\"arm-linux\"]\n").unwrap();
    let bad_key = dir.path().join("bad-key.toml");
    std::fs::write(&bad_key, "descripton = \"x\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["lab", "check"])
        .arg(&bad_system)
        .arg("non-nixos-aarch64")
        .arg(&bad_key)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stdout.contains("ok  non-nixos-aarch64"), "{stdout}");
    assert!(
        stderr.contains(&format!("`{}:3:12`: `systems[0]`: unknown system `arm-linux`", bad_system.display())),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("`{}:1:1`: `descripton`: unknown key", bad_key.display())), "{stderr}");
    assert!(stderr.contains("2 specs of 3 invalid"), "{stderr}");
}

/// The emulator a spec registers, and the flags NixOS derives from it.
fn emulator_of(text: &str) -> String {
    match spec::parse("t", Path::new("labs/t.toml"), text) {
        Ok(lab) => format!("{} {}", lab.binfmt.emulator.as_str(), lab.binfmt.flags),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_emulator_defaults_as_each_host_registers_it_and_nixos_flags_follow_it() {
    let nixos = "description = \"d\"\nhost = \"nixos\"\nsystems = [\"aarch64-linux\"]\n[[probe]]\nkind = \"binfmt\"\n";
    let fhs = with_head("[[probe]]\nkind = \"binfmt\"\n");
    assert_eq!(emulator_of(&fhs), "static P");
    assert_eq!(emulator_of(nixos), "dynamic P");
    let static_nixos = nixos.replace("[[probe]]", "[binfmt]\nemulator = \"static\"\n[[probe]]");
    assert_eq!(emulator_of(&static_nixos), "static PF");
    let dynamic_fhs = with_head("[binfmt]\nemulator = \"dynamic\"\nflags = \"PF\"\n[[probe]]\nkind = \"binfmt\"\n");
    assert_eq!(emulator_of(&dynamic_fhs), "dynamic PF", "an FHS registration takes any flags");

    let contradiction = nixos.replace("[[probe]]", "[binfmt]\nflags = \"PF\"\n[[probe]]");
    expect![[r#"
        invalid lab spec `labs/t.toml:5:9`: `binfmt.flags`: `PF` contradicts `emulator = "dynamic"`: without preferStaticEmulators NixOS registers its dynamically linked qemu wrapper with `P` alone
          help: remove `flags` (it follows from `emulator`), use `flags = "P"`, or `emulator = "static"` for `PF`; `interpreter = "fhs"` registers other flags"#]]
    .assert_eq(&emulator_of(&contradiction));
    let unknown = with_head("[binfmt]\nemulator = \"shared\"\n[[probe]]\nkind = \"binfmt\"\n");
    assert!(emulator_of(&unknown).contains("`binfmt.emulator`"), "{}", emulator_of(&unknown));
    let pointless =
        with_head("[binfmt]\ninterpreter = \"none\"\nemulator = \"static\"\n[[probe]]\nkind = \"binfmt\"\n");
    assert!(emulator_of(&pointless).contains("registers no entry"), "{}", emulator_of(&pointless));
}

#[test]
fn every_mistake_of_a_spec_is_told_at_once_in_file_order() {
    check(
        r#"description = "five mistakes"
host = "non-nixos"
systems = ["aarch64-linux", "armv7-linux"]

[binfmt]
flags = "PX"

[nix]
sandbox = "yes"

[[probe]]
kind = "biuld"

[[probe]]
kind = "command"
expect = "failure"
"#,
        expect![[r#"
            invalid lab spec `labs/t.toml:3:29`: `systems[1]`: unknown system `armv7-linux`
              help: did you mean `armv7l-linux`, `armv6l-linux`, `armv5tel-linux`?
            invalid lab spec `labs/t.toml:6:9`: `binfmt.flags`: `X` is not a binfmt_misc flag
              help: flags are any of P (preserve argv[0]), O (open binary), C (credentials), F (fix binary: open the interpreter at registration)
            invalid lab spec `labs/t.toml:9:11`: `nix.sandbox`: expected a boolean (true or false), found a string
              help: write `nix.sandbox` as a boolean (true or false)
            invalid lab spec `labs/t.toml:12:8`: `probe[0].kind`: `biuld` is not allowed
              help: did you mean "build"? allowed: "binfmt", "nix-config", "exec", "build", "compile", "command", "nix-conf-edit"
            invalid lab spec `labs/t.toml:14:1`: `probe[1].run`: a `command` probe needs the shell command to run
              help: add `run = "…"`; it sees the target system in $CROSSLAB_SYSTEM
            invalid lab spec `labs/t.toml:16:10`: `probe[1].expect`: `failure` is not allowed
              help: did you mean "fail"? allowed: "pass", "fail""#]],
    );
}

#[test]
fn a_mistake_is_told_once_not_again_by_the_keys_that_depend_on_it() {
    // The bad system is told once, not again as "not one of the lab's systems" for the probe.
    check(
        "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linxu\"]\n\
         [[probe]]\nkind = \"exec\"\nsystems = [\"aarch64-linux\"]\n",
        expect![[r#"
            invalid lab spec `labs/t.toml:3:12`: `systems[0]`: unknown system `aarch64-linxu`
              help: did you mean `aarch64-linux`?"#]],
    );
}

#[test]
fn toml_syntax_errors_on_several_lines_are_all_told() {
    check(
        &with_head("[[probe]]\nkind = build\n[[probe]]\nkind = \"exec\" \"x\"\n"),
        expect![[r#"
            invalid lab spec `labs/t.toml:5:8`: TOML syntax error: string values must be quoted, expected literal string
              help: fix the TOML syntax; see the spec format in README.md
            invalid lab spec `labs/t.toml:7:15`: TOML syntax error: unexpected key or value, expected newline, `#`
              help: fix the TOML syntax; see the spec format in README.md"#]],
    );
}

#[test]
fn a_spec_outside_labs_may_have_any_file_name_and_gets_a_derived_lab_name() {
    let dir = tempfile::tempdir().unwrap();
    let text = with_head("[[probe]]\nkind = \"exec\"\n");
    for (file, name) in
        [("my-box-fixF.toml", "my-box-fixf"), ("Ubuntu 24.04 (arm).toml", "ubuntu-24-04-arm"), ("_.toml", "lab")]
    {
        let path = dir.path().join(file);
        std::fs::write(&path, &text).unwrap();
        assert_eq!(spec::load(&path).unwrap_or_else(|e| panic!("{e}")).name, name);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["lab", "check"])
        .arg(dir.path().join("my-box-fixF.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("ok  my-box-fixf  (1 system, 1 probe; lab name derived from `"), "{stdout}");
}

#[test]
fn in_a_labs_directory_the_file_name_is_the_lab_name_and_must_be_one() {
    let dir = tempfile::tempdir().unwrap();
    let labs = dir.path().join("labs");
    std::fs::create_dir(&labs).unwrap();
    let path = labs.join("my-box-fixF.toml");
    std::fs::write(&path, with_head("[[probe]]\nkind = \"exec\"\n")).unwrap();
    let err = spec::load(&path).unwrap_err().to_string();
    assert!(err.contains("`my-box-fixF` is not a valid lab name"), "{err}");
    assert!(err.contains("rename the file to `my-box-fixf.toml`"), "{err}");
}

/// Issue 17's keys: each mistake told at its key with a fix.
#[test]
fn report_shaped_keys_are_checked_with_a_fix() {
    // expect-output by stack or Nix version.
    check(
        &with_head(
            "[[probe]]\nkind = \"build\"\nexpect = \"fail\"\nexpect-output = { default = \"a\", sid = \"b\" }\n",
        ),
        expect![[r#"
            invalid lab spec `labs/t.toml:7:40`: `probe[0].expect-output.sid`: `sid` is neither a stack nor a Nix version
              help: name a stack (`default`, `host`, `bookworm`, `trixie`, `forky`, `nixos`) or a Nix version as `nix-2.8`"#]],
    );
    check(
        &with_head(
            "[[probe]]\nkind = \"build\"\nexpect = \"fail\"\nexpect-output = { default = \"a\", nix-2.8 = \"b\" }\n",
        ),
        expect![[r#"
        invalid lab spec `labs/t.toml:7:34`: `probe[0].expect-output.nix-2`: `nix-2.8` unquoted is a table `nix-2` in TOML, not the Nix version 2.8
          help: quote the key: `"nix-2.8" = "…"`"#]],
    );
    check(
        &with_head("[[probe]]\nkind = \"build\"\nexpect = \"fail\"\nexpect-output = { trixie = \"\" }\n"),
        expect![[r#"
        invalid lab spec `labs/t.toml:7:28`: `probe[0].expect-output.trixie`: is empty, so it would match any output
          help: give the text the output must contain, or remove the key"#]],
    );
    check(
        &with_head("[[probe]]\nkind = \"build\"\nexpect = \"fail\"\nexpect-output = {}\n"),
        expect![[r#"
        invalid lab spec `labs/t.toml:7:17`: `probe[0].expect-output`: is an empty table, so it expects nothing
          help: give `default = "…"` and a text per stack where it differs, e.g. `bookworm = "…"`"#]],
    );
    check(
        &with_head("[[probe]]\nkind = \"build\"\nexpect = \"fail\"\nexpect-output = 3\n"),
        expect![[r#"
        invalid lab spec `labs/t.toml:7:17`: `probe[0].expect-output`: expected a string or a table of strings by stack, found a integer
          help: write `probe[0].expect-output` as a string or a table of strings by stack"#]],
    );
    // System features.
    check(
        &with_head("[nix]\nsystem-features = [\"big parallel\"]\n[[probe]]\nkind = \"build\"\n"),
        expect![[r#"
        invalid lab spec `labs/t.toml:5:20`: `nix.system-features[0]`: `big parallel` is not a system feature: Nix splits features on white space
          help: give one word per feature, e.g. `"gccarch-armv7-a"` or `"kvm"`"#]],
    );
    check(
        &with_head("[[probe]]\nkind = \"exec\"\nrequired-system-features = [\"kvm\"]\n"),
        expect![[r#"
        invalid lab spec `labs/t.toml:6:28`: `probe[0].required-system-features`: a `exec` probe builds no derivation of its own
          help: use `required-system-features` on build probes, or remove it"#]],
    );
    // [machine].
    check(
        &with_head("[machine]\nbinfmt-misc = \"not-mounted\"\n[[probe]]\nkind = \"build\"\n"),
        expect![[r#"
        invalid lab spec `labs/t.toml:5:15`: `machine.binfmt-misc`: with binfmt_misc not mounted nothing can be registered, yet `[binfmt]` registers an emulator
          help: set `[binfmt] interpreter = "none"`, or remove `binfmt-misc`"#]],
    );
    check(
        &with_head("[machine]\nbinfmt-misc = \"automount\"\n[[probe]]\nkind = \"build\"\n"),
        expect![[r#"
        invalid lab spec `labs/t.toml:5:15`: `machine.binfmt-misc`: systemd's automount (autofs) cannot be mounted where a lab runs: the kernel refuses autofs in a user namespace
          help: an automount mounts binfmt_misc on first use, as `"mounted"` (the default) is; for what a report blames on it, model the effect: `proc = "partly-hidden"` (a /proc Nix's sandbox cannot remount) or `binfmt-misc = "not-mounted"`"#]],
    );
    check(&with_head("[machine]\nproc = \"hidden\"\nmissing = [\"/etc/nix\", \"/run/crosslab\", \"/run/../etc\"]\n[[probe]]\nkind = \"build\"\n"), expect![[r#"
        invalid lab spec `labs/t.toml:5:8`: `machine.proc`: `hidden` is not allowed
          help: allowed: "visible", "partly-hidden"
        invalid lab spec `labs/t.toml:6:12`: `machine.missing[0]`: `/etc/nix` is not a path under /run the lab can remove
          help: a lab removes only what it owns: a path under /run (e.g. "/run/binfmt"), not crosslab's /run/crosslab; other paths are read-only
        invalid lab spec `labs/t.toml:6:24`: `machine.missing[1]`: `/run/crosslab` is not a path under /run the lab can remove
          help: a lab removes only what it owns: a path under /run (e.g. "/run/binfmt"), not crosslab's /run/crosslab; other paths are read-only
        invalid lab spec `labs/t.toml:6:41`: `machine.missing[2]`: `/run/../etc` is not a path under /run the lab can remove
          help: a lab removes only what it owns: a path under /run (e.g. "/run/binfmt"), not crosslab's /run/crosslab; other paths are read-only"#]]);
    check(
        &with_head("[machine]\nbinfmt-mount = \"none\"\n[[probe]]\nkind = \"build\"\n"),
        expect![[r#"
        invalid lab spec `labs/t.toml:5:1`: `machine.binfmt-mount`: unknown key
          help: valid keys here are: `machine.binfmt-misc`, `machine.proc`, `machine.missing`"#]],
    );
}

/// Expectations no run can meet are refused by `lab check`, each with the change that makes it possible.
#[test]
fn expectations_that_can_never_hold_are_refused() {
    // A passing probe cannot print a failure.
    check(
        &with_head("[[probe]]\nkind = \"build\"\nexpect-output = \"Exec format error\"\n"),
        expect![[r#"
        invalid lab spec `labs/t.toml:6:17`: `probe[0].expect-output`: expects `Exec format error` from a probe that passes, but only a failing run prints "Exec format error"
          help: set `expect = "fail"` to reproduce the error, or give the text a passing run prints"#]],
    );
    // A passing native build of an aarch64 program prints aarch64, never armv7l.
    check(
        "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"x86_64-linux\"]\n[[probe]]\nkind = \"build\"\npayload = \"aarch64-linux\"\nexpect-output = \"armv7l\"\n",
        expect![[r#"
            invalid lab spec `labs/t.toml:7:17`: `probe[0].expect-output`: a passing `build` probe prints the machine of the program it runs (x86_64 or aarch64), never `armv7l`
              help: remove `expect-output` (the machine is derived from `systems` and `payload`), or change `payload`"#]],
    );
    // ... while the machine of what runs is accepted.
    check(
        "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"x86_64-linux\"]\n[[probe]]\nkind = \"build\"\npayload = \"aarch64-linux\"\nexpect-output = \"aarch64\"\n",
        expect![[r#"ok: host=non-nixos systems=["x86_64-linux"] interpreter=fhs flags=P sandbox=true paths=[] platforms=["x86_64-linux"] probes=["build:pass"]"#]],
    );
    // Nix refuses a build whose required feature the machine does not offer.
    check(
        &with_head("[nix]\nsystem-features = [\"kvm\"]\n[[probe]]\nkind = \"build\"\nrequired-system-features = [\"gccarch-armv8-a\", \"kvm\"]\n"),
        expect![[r#"
            invalid lab spec `labs/t.toml:8:28`: `probe[0].required-system-features`: the build requires "gccarch-armv8-a" but `[nix] system-features` lacks it, so Nix refuses to build it ("… is required to build …")
              help: add "gccarch-armv8-a" to `[nix] system-features`, or set `expect = "fail"` to reproduce the refusal"#]],
    );
    // The same expecting the refusal is fine.
    check(
        &with_head("[nix]\nsystem-features = [\"kvm\"]\n[[probe]]\nkind = \"build\"\nrequired-system-features = [\"gccarch-armv8-a\"]\nexpect = \"fail\"\nexpect-output = { default = \"is required to build\", \"nix-2.8\" = \"is required\", bookworm = \"required\" }\n"),
        expect![[r#"ok: host=non-nixos systems=["aarch64-linux"] interpreter=fhs flags=P sandbox=true paths=[] platforms=["aarch64-linux"] probes=["build:fail"]"#]],
    );
}

/// A table `expect-output` names every stack `lab run --stack` takes.
#[test]
fn expect_output_tables_know_every_stack() {
    for stack in xtask::provision::stack::STACKS {
        assert!(
            spec::STACK_NAMES.contains(&stack.name),
            "stack `{}` is missing from spec::STACK_NAMES: an expect-output table could not name it",
            stack.name
        );
    }
}

#[test]
fn host_system_and_cpu_are_checked_against_the_systems_table() {
    check(
        &format!("host-system = \"arm64-linux\"\n{HEAD}[[probe]]\nkind = \"exec\"\n"),
        expect![[r#"
            invalid lab spec `labs/t.toml:1:15`: `host-system`: `arm64-linux` is not allowed
              help: did you mean "aarch64-linux"? allowed: "x86_64-linux", "aarch64-linux""#]],
    );
    check(
        &format!("host-system = \"aarch64-linux\"\nhost-cpu = \"m1\"\n{HEAD}[[probe]]\nkind = \"exec\"\n"),
        expect![[r#"
            invalid lab spec `labs/t.toml:2:12`: `host-cpu`: `m1` is not allowed
              help: allowed: "cortex-a72", "cortex-a53", "a64fx""#]],
    );
    check(
        &format!("host-cpu = \"a64fx\"\n{HEAD}[[probe]]\nkind = \"exec\"\n"),
        expect![[r#"
            invalid lab spec `labs/t.toml:1:12`: `host-cpu`: `a64fx` needs `host-system`: a CPU belongs to a host architecture
              help: add e.g. `host-system = "aarch64-linux"`"#]],
    );
    // A CPU of another architecture is not one of this host system's.
    check(
        &format!("host-system = \"x86_64-linux\"\nhost-cpu = \"cortex-a72\"\n{HEAD}[[probe]]\nkind = \"exec\"\n"),
        expect![[r#"
            invalid lab spec `labs/t.toml:2:12`: `host-cpu`: `cortex-a72` is not allowed
              help: allowed: "max""#]],
    );
    let lab = spec::parse(
        "t",
        Path::new("labs/t.toml"),
        &format!("host-system = \"aarch64-linux\"\nhost-cpu = \"a64fx\"\n{HEAD}[[probe]]\nkind = \"exec\"\n"),
    )
    .unwrap();
    assert_eq!((lab.host_system.unwrap().double, lab.host_cpu.unwrap().name), ("aarch64-linux", "a64fx"));
}
