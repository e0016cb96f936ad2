//! Diagnoses for every probe kind, each from a real failure in a real
//! host-backend run: a `command` probe earlier in the lab breaks what a later
//! probe checks (disables, re-registers or removes the entry; overrides or
//! breaks Nix's configuration), and the later probe's diagnosis must name
//! that from its own output. The matrix note names the most informative
//! surprise of a row, not the first. Needs root, Nix and qemu-user-static
//! (the README's test command installs them).

use xtask::diagnose::{diagnose, Cause, Diagnosis, SpecChange};
use xtask::outcome::LabReport;
use xtask::plan::Plan;
use xtask::provision::payload;
use xtask::run::run_host;
use xtask::spec::{self, Lab};

mod common;

fn lab(name: &str, text: &str) -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    spec::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn run(plan: &Plan) -> LabReport {
    let mut systems: Vec<_> = plan.probes.iter().map(|p| p.payload).collect();
    systems.sort_by_key(|s| s.double);
    systems.dedup();
    let payloads = payload::ensure(&xshell::Shell::new().unwrap(), &systems).unwrap();
    run_host(plan, &payloads, false, &mut |_| {}).unwrap_or_else(|e| panic!("{e:#}"))
}

/// A lab whose first probe is the `command` `breaks`, then `probe` (a
/// `[[probe]]` body): the diagnosis of that second probe, and its output.
fn diagnosis_after(breaks: &str, probe: &str, nix: &str) -> (Diagnosis, String) {
    let text = format!(
        "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n[binfmt]\ninterpreter = \"fhs\"\nflags = \"P\"\n[nix]\n{nix}\n[[probe]]\nkind = \"command\"\nrun = '''\n{breaks}\n'''\n[[probe]]\n{probe}\n"
    );
    let lab = lab("breaks", &text);
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    let report = run(&plan);
    assert!(report.verdicts[0].passed, "the breaking command failed:\n{}", report.verdicts[0].execution.output);
    let v = &report.verdicts[1];
    let shown = format!("{}: {}\n{}", v.probe.id(), v.label(), v.execution.output);
    (diagnose(&plan, v).unwrap_or_else(|| panic!("no diagnosis:\n{shown}")), shown)
}

const ENTRY: &str = "/proc/sys/fs/binfmt_misc/qemu-aarch64";

#[test]
fn a_disabled_entry_is_diagnosed_from_the_binfmt_probe() {
    common::test_packages();
    let (d, out) = diagnosis_after(&format!("echo 0 > {ENTRY}"), "kind = \"binfmt\"", "");
    assert_eq!(d.cause, Cause::EntryDisabled, "{out}");
    assert!(d.fix.contains(&format!("echo 1 > {ENTRY}")), "{d:?}");
    // No spec change applies; the machine's step is the cause's own.
    assert!(d.changes.is_empty(), "{d:?}");
    assert!(d.on_machine[0].contains(&format!("echo 1 | sudo tee {ENTRY}")), "{d:?}");
}

#[test]
fn an_entry_registered_again_differently_is_diagnosed_with_what_it_is() {
    common::test_packages();
    let magic = r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00";
    let mask = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\x00\xff\xfe\xff\xff\xff";
    let again = format!(
        "echo -1 > {ENTRY}\nprintf '%s' ':qemu-aarch64:M::{magic}:{mask}:/usr/bin/qemu-aarch64-static:PF' > /proc/sys/fs/binfmt_misc/register"
    );
    let (d, out) = diagnosis_after(&again, "kind = \"binfmt\"", "");
    assert_eq!(d.cause, Cause::EntryDiffers, "{out}");
    assert!(d.summary.contains("`PF`"), "{d:?}");
}

#[test]
fn a_removed_entry_is_diagnosed_as_gone() {
    common::test_packages();
    let (d, out) = diagnosis_after(&format!("echo -1 > {ENTRY}"), "kind = \"binfmt\"", "");
    assert_eq!(d.cause, Cause::EntryMissing, "{out}");
}

#[test]
fn a_platform_missing_from_nix_is_diagnosed_from_the_nix_config_probe() {
    common::test_packages();
    let (d, out) = diagnosis_after("true", "kind = \"nix-config\"", "extra-platforms = []");
    assert_eq!(d.cause, Cause::PlatformNotAllowed, "{out}");
    assert_eq!(d.changes, vec![SpecChange::AddPlatform("aarch64-linux")]);
}

#[test]
fn a_setting_another_nix_conf_overrides_is_diagnosed() {
    common::test_packages();
    let (d, out) =
        diagnosis_after("printf 'sandbox = false\\n' > \"$NIX_USER_CONF_FILES\"", "kind = \"nix-config\"", "");
    assert_eq!(d.cause, Cause::NixSettingMissing, "{out}");
    assert!(d.summary.contains("sandbox is not true"), "{d:?}");
    assert!(d.on_machine.iter().any(|s| s.contains("systemctl restart nix-daemon")), "{d:?}");
}

#[test]
fn a_configuration_nix_rejects_is_diagnosed_with_nix_s_words() {
    common::test_packages();
    let (d, out) =
        diagnosis_after("printf 'sandbox = maybe\\n' > \"$NIX_USER_CONF_FILES\"", "kind = \"nix-config\"", "");
    assert_eq!(d.cause, Cause::NixConfigRejected, "{out}");
    assert!(d.detail.contains("'maybe'"), "{d:?}");
}

#[test]
fn a_command_that_builds_gets_the_sandbox_diagnosis_of_a_build() {
    common::test_packages();
    // The lab's own build, written as a command: Nix's "executing '…'" is the evidence.
    let build = r#"kind = "command"
run = '''
p=$(readlink -f "$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM")
nix-build --no-out-link --expr "derivation { name = \"c\"; system = \"$CROSSLAB_SYSTEM\"; builder = (builtins.path { path = $p; name = \"p\"; }) + \"/sh\"; args = [ \"-c\" \"echo > \$out\" ]; }"
'''"#;
    let (d, out) = diagnosis_after("true", build, "");
    assert_eq!(d.cause, Cause::InterpreterOutsideSandbox, "{out}");
    assert_eq!(
        d.changes[0],
        SpecChange::AddSandboxPaths(vec!["/usr/bin/qemu-aarch64-static".into(), "/usr/bin/qemu-aarch64?".into()])
    );
}

#[test]
fn the_matrix_note_names_the_most_informative_surprise_not_the_first() {
    common::test_packages();
    // First a probe that times out (a weak note), then the sandbox failure.
    let text = r#"
description = "d"
host = "non-nixos"
systems = ["aarch64-linux"]
[binfmt]
flags = "P"
[[probe]]
kind = "command"
run = "sleep 10"
timeout = 1
[[probe]]
kind = "build"
"#;
    let lab = lab("notes", text);
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    let report = run(&plan);
    let rows = xtask::matrix::rows_of(&plan, &report);
    assert_eq!(rows[0].note, "build: sandbox cannot see /usr/bin/qemu-aarch64-static", "{:?}", rows[0]);
}
