//! `lab fix` for real: the issue's Ubuntu box (aarch64 and armv7l, qemu
//! registered without F, the sandbox on, armv7l missing from
//! extra-platforms) comes out fixed in one command, every layer at once, and
//! the fixed spec passes `lab run` on its own; a failure no diagnosis
//! explains gets no claimed fix. Needs root, Nix and qemu-user-static (the
//! README's test command installs them).

use std::path::Path;
use std::process::{Command, Output};

use xtask::spec;

mod common;
use common::{assert_success, write_spec};

fn xtask(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).env_remove("CI").output().unwrap()
}

fn fix(spec: &Path, out: &Path) -> Output {
    xtask(&["lab".as_ref(), "fix".as_ref(), spec.as_os_str(), "--out".as_ref(), out.as_os_str()])
}

/// What the issue's user wrote by hand from the README: a name outside the
/// labs/ rule would be refused, so it is a valid one.
const UBUNTU_BOX: &str = r#"
description = "my Ubuntu box: aarch64 and armv7l builds fail"
host = "non-nixos"
systems = ["aarch64-linux", "armv7l-linux"]
[binfmt]
interpreter = "fhs"
flags = "P"
[nix]
sandbox = true
extra-platforms = ["aarch64-linux"]
[[probe]]
kind = "nix-config"
[[probe]]
kind = "build"
expect = "fail"
expect-output = "No such file or directory"
"#;

#[test]
fn every_layer_of_the_ubuntu_box_is_fixed_and_proved_in_one_command() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "my-box", UBUNTU_BOX);
    let out = dir.path().join("my-box-fixed.toml");
    let done = fix(&path, &out);
    assert_success("lab fix", &done);
    let stdout = String::from_utf8_lossy(&done.stdout);

    // Every layer: armv7l needs extra-platforms, then both emulators must be
    // visible in the sandbox, and the expected failure now expects a pass.
    let fixed = spec::load(&out).unwrap_or_else(|e| panic!("{e}\n{stdout}"));
    assert!(fixed.nix.extra_platforms.iter().any(|p| p == "armv7l-linux"), "{stdout}");
    let sees = |interp: &str| {
        fixed.nix.extra_sandbox_paths.iter().any(|p| p == interp)
            || fixed.binfmt.flags.contains('F')
            || !fixed.nix.sandbox
    };
    assert!(sees("/usr/bin/qemu-aarch64-static") && sees("/usr/bin/qemu-arm-static"), "{stdout}");
    assert!(fixed.probes.iter().all(|p| p.expect == spec::Expect::Pass && p.expect_output.is_none()));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("# Fixed by `cargo xtask lab fix`"), "{text}");
    assert!(text.contains("now expects to pass"), "{text}");

    // The real machine's side: nix.conf lines and the daemon restart.
    assert!(stdout.contains("verified: every probe passes"), "{stdout}");
    assert!(stdout.contains("add to /etc/nix/nix.conf: `extra-platforms = armv7l-linux`"), "{stdout}");
    assert!(stdout.contains("systemctl restart nix-daemon"), "{stdout}");

    // lab run's report of the original names lab fix, and does not call the fix verified.
    let run = xtask(&["lab".as_ref(), "run".as_ref(), path.as_os_str()]);
    let report = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{report}");
    assert!(report.contains("not verified: `cargo xtask lab fix"), "{report}");
    assert!(report.contains("add to /etc/nix/nix.conf: `extra-platforms = armv7l-linux`"), "{report}");

    // Proved again, independently: the written spec passes lab run.
    let run = xtask(&["lab".as_ref(), "run".as_ref(), out.as_os_str()]);
    assert_success("lab run on the fixed spec", &run);
}

#[test]
fn no_fix_is_claimed_when_no_diagnosis_applies() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
description = "a command that fails for a reason no diagnosis knows"
host = "non-nixos"
systems = ["aarch64-linux"]
[[probe]]
kind = "command"
run = "echo 'something odd'; exit 3"
"#;
    let path = write_spec(dir.path(), "odd", text);
    let out = dir.path().join("fixed.toml");
    let done = fix(&path, &out);
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert_eq!(done.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&done.stderr));
    assert!(stdout.contains("no verified fix"), "{stdout}");
    assert!(stdout.contains("command[0]@aarch64-linux: exit status 3 (no diagnosis)"), "{stdout}");
    assert!(!out.exists(), "no spec is written without a verified fix");
}

#[test]
fn a_nixos_box_is_told_its_nixos_options() {
    common::test_packages();
    // NixOS with aarch64 in extra-platforms but no emulatedSystems: nothing
    // runs aarch64 binaries, and the fix on the machine is an option.
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
description = "NixOS box: aarch64 in extra-platforms, nothing emulated"
host = "nixos"
systems = ["aarch64-linux"]
[binfmt]
interpreter = "none"
[nix]
extra-platforms = ["aarch64-linux"]
[[probe]]
kind = "exec"
[[probe]]
kind = "build"
"#;
    let path = write_spec(dir.path(), "nixos-box", text);
    let out = dir.path().join("fixed.toml");
    let done = fix(&path, &out);
    assert_success("lab fix", &done);
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(stdout.contains("on a real nixos machine:"), "{stdout}");
    assert!(
        stdout.contains(r#"in configuration.nix: `boot.binfmt.emulatedSystems = [ "aarch64-linux" ];`"#),
        "{stdout}"
    );
    assert!(stdout.contains("sudo nixos-rebuild switch"), "{stdout}");
    assert_eq!(spec::load(&out).unwrap().binfmt.interpreter, spec::Interpreter::Nixos);
}

#[test]
fn a_change_the_spec_format_rejects_is_said_and_not_claimed() {
    common::test_packages();
    // boot.binfmt.emulatedSystems has no magic for armv5tel: registering
    // through NixOS is not a change this lab can take.
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
description = "NixOS box, a system emulatedSystems cannot take"
host = "nixos"
systems = ["armv5tel-linux"]
[binfmt]
interpreter = "none"
[[probe]]
kind = "exec"
"#;
    let path = write_spec(dir.path(), "nixos-armv5", text);
    let out = dir.path().join("fixed.toml");
    let done = fix(&path, &out);
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert_eq!(done.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("not run:  register qemu"), "{stdout}");
    assert!(stdout.contains("emulatedSystems rejects it"), "{stdout}");
    assert!(!out.exists());
}

/// `lab fix` of the spec `text` (on `stack`): its exit code, what it printed,
/// and the fixed spec when it wrote one.
fn fix_on(name: &str, text: &str, stack: &str) -> (Option<i32>, String, Option<spec::Lab>) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), name, text);
    let out = dir.path().join("fixed.toml");
    let done = xtask(&[
        "lab".as_ref(),
        "fix".as_ref(),
        path.as_os_str(),
        "--stack".as_ref(),
        stack.as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    let shown = format!("{}{}", String::from_utf8_lossy(&done.stdout), String::from_utf8_lossy(&done.stderr));
    let fixed = out.exists().then(|| spec::load(&out).unwrap_or_else(|e| panic!("{e}\n{shown}")));
    (done.status.code(), shown, fixed)
}

#[test]
fn a_sandbox_path_that_does_not_exist_is_fixed_by_making_it_optional() {
    // NixOS-WSL#552: /run/binfmt listed, and not there.
    let text = "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n[binfmt]\ninterpreter = \"fhs\"\nflags = \"PF\"\n[nix]\nextra-sandbox-paths = [\"/run/binfmt\"]\n[[probe]]\nkind = \"build\"\n";
    let (code, shown, fixed) = fix_on("wsl", text, "host");
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("kept:     write `/run/binfmt?`"), "{shown}");
    assert_eq!(fixed.unwrap().nix.extra_sandbox_paths, vec!["/run/binfmt?".to_owned()], "{shown}");
}

#[test]
fn a_symlinked_interpreter_on_trixie_is_fixed_with_its_target() {
    let text = "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n[binfmt]\ninterpreter = \"fhs\"\nflags = \"P\"\n[nix]\nextra-sandbox-paths = [\"/usr/bin/qemu-aarch64-static\"]\n[[probe]]\nkind = \"build\"\n";
    let (code, shown, fixed) = fix_on("link", text, "trixie");
    assert_eq!(code, Some(0), "{shown}");
    // The first change tried is the target, and it is enough: F is not needed.
    assert!(shown.contains("kept:     add `/usr/bin/qemu-aarch64?` to [nix] extra-sandbox-paths"), "{shown}");
    let fixed = fixed.unwrap();
    assert_eq!(fixed.binfmt.flags, "P", "{shown}");
    assert!(fixed.nix.extra_sandbox_paths.contains(&"/usr/bin/qemu-aarch64?".to_owned()), "{shown}");
}

#[test]
fn a_missing_system_feature_is_proposed_and_the_platform_already_there_is_not() {
    // nix-community/infra#1916: armv7l-linux is in extra-platforms; the
    // derivation needs gccarch-armv7-a. No no-op is tried; the feature is
    // proposed, and said not to be a spec key yet.
    let text = r#"description = "d"
host = "non-nixos"
systems = ["armv7l-linux"]
[binfmt]
interpreter = "fhs"
flags = "PF"
[nix]
extra-platforms = ["armv7l-linux"]
[[probe]]
kind = "command"
run = '''
p=$(readlink -f "$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM")
nix-build --no-out-link --expr "derivation { name = \"f\"; system = \"$CROSSLAB_SYSTEM\"; requiredSystemFeatures = [ \"gccarch-armv7-a\" ]; builder = (builtins.path { path = $p; name = \"p\"; }) + \"/sh\"; args = [ \"-c\" \"echo > \$out\" ]; }"
'''
"#;
    let (code, shown, _) = fix_on("infra1916", text, "host");
    assert_eq!(code, Some(1), "{shown}");
    assert!(!shown.contains("extra-platforms"), "{shown}");
    assert!(shown.contains("not run:  add `gccarch-armv7-a` to [nix] system-features"), "{shown}");
    assert!(shown.contains("Nix lacks the system feature gccarch-armv7-a"), "{shown}");
}

#[test]
fn a_build_that_runs_another_system_s_program_is_fixed_to_run_its_own() {
    // nixpkgs#61537's shape in CI: the x86_64 build that passed only through
    // a laptop's qemu-aarch64 fails where nothing is registered; the fix that
    // holds on any host is to run x86_64's own program.
    let text = "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"x86_64-linux\"]\n[binfmt]\ninterpreter = \"none\"\n[machine]\nbinfmt-misc = \"not-mounted\"\n[[probe]]\nkind = \"build\"\npayload = \"aarch64-linux\"\n";
    let (code, shown, fixed) = fix_on("nixpkgs61537", text, "host");
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("kept:     remove `payload` from probe[0]"), "{shown}");
    assert_eq!(fixed.unwrap().probes[0].payload, None, "{shown}");
}

/// Issue 18: on a kernel without binfmt_misc namespaces (before 6.7;
/// `CROSSLAB_ASSUME_NO_BINFMT_NS` makes this one behave so) `lab fix` picks
/// the vm backend as `lab run` does and finds the default lab's fix there,
/// every candidate run in one guest. Boots the cached guest (built once, as
/// root, by the vm backend's tests).
#[test]
fn on_an_old_kernel_the_default_labs_fix_is_found_in_the_vm() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fixed.toml");
    let done = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["lab", "fix", "non-nixos-aarch64", "--out"])
        .arg(&out)
        .current_dir(xtask::project_root())
        .env_remove("CI")
        .env("CROSSLAB_ASSUME_NO_BINFMT_NS", "1")
        .output()
        .unwrap();
    assert_success("lab fix on the vm backend", &done);
    let stdout = String::from_utf8_lossy(&done.stdout);
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(stderr.contains("crosslab: backend vm:"), "{stderr}");
    assert_eq!(stderr.matches("crosslab: VM up in").count(), 1, "one guest for every run:\n{stderr}");
    assert!(stdout.contains("verified: every probe passes"), "{stdout}");
    let fixed = spec::load(&out).unwrap_or_else(|e| panic!("{e}\n{stdout}"));
    let sees = fixed.nix.extra_sandbox_paths.iter().any(|p| p == "/usr/bin/qemu-aarch64-static")
        || fixed.binfmt.flags.contains('F')
        || !fixed.nix.sandbox;
    assert!(sees, "the sandbox sees the emulator: {stdout}");
    assert!(fixed.probes.iter().all(|p| p.expect == spec::Expect::Pass), "{stdout}");
}
