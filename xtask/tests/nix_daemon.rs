//! Multi-user Nix for real on the host backend: a root nix-daemon builds as
//! the `nixbld` users, the probes are its untrusted client, a restricted
//! `--option` is ignored with Nix's own words until the client is trusted,
//! and a nix.conf edit is unseen until the daemon restarts. Needs root, Nix
//! and qemu-user-static; the Nix 2.26 case the cached `trixie` stack.

use std::path::{Path, PathBuf};

use xtask::outcome::LabReport;
use xtask::plan::Plan;
use xtask::provision::{payload, stack};
use xtask::run::{run_on_host, HostEnv};
use xtask::spec;

mod common;
use common::write_spec;

fn lab_path(name: &str) -> PathBuf {
    xtask::labs_dir(&xtask::project_root()).join(format!("{name}.toml"))
}

/// Runs the spec at `path` on the host backend with `stack`'s Nix and qemu.
fn run(path: &Path, stack_name: &str) -> LabReport {
    let lab = spec::load(path).unwrap_or_else(|e| panic!("{e}"));
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    let sh = xshell::Shell::new().unwrap();
    let stack = stack::Stack::find(stack_name).unwrap();
    let mut systems: Vec<_> = plan.probes.iter().map(|p| p.payload).collect();
    systems.dedup();
    let payloads = payload::ensure(&sh, &systems).unwrap();
    let env = HostEnv { payloads, global_binfmt: false, lower: stack.lower_root(&sh).unwrap(), suite: stack.suite };
    run_on_host(&plan, &env, &[stack_name.to_owned()], &mut |_| {}).unwrap_or_else(|e| panic!("{e:#}"))
}

fn assert_all_as_expected(report: &LabReport) {
    for v in &report.verdicts {
        assert!(
            v.as_expected,
            "{}: {} — expected {}, output:\n{}",
            report.lab,
            v.probe.id(),
            v.probe.expect.describe(),
            v.execution.output
        );
    }
}

/// A lab whose command probe (root, through the daemon when there is one)
/// builds unsandboxed and prints the builder's uid, then a client's build.
fn uid_lab(dir: &Path, mode: &str) -> PathBuf {
    write_spec(
        dir,
        &format!("uids-{mode}"),
        format!(
            r#"description = "who builds"
host = "non-nixos"
systems = ["aarch64-linux"]
[binfmt]
flags = "PF"
[nix]
sandbox = false
mode = "{mode}"
[[probe]]
kind = "command"
run = '''
p=$(readlink -f "$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM")
out=$(nix-build --no-out-link --expr "derivation {{ name = \"who\"; system = \"$CROSSLAB_SYSTEM\"; builder = (builtins.path {{ path = $p; name = \"p\"; }}) + \"/sh\"; args = [ \"-c\" \"$p/busybox id -u > \$out\" ]; }}") || exit 1
echo "builder uid $(cat "$out")"
'''
[[probe]]
kind = "build"
"#
        ),
    )
}

fn builder_uid(report: &LabReport) -> u32 {
    let out = &report.verdicts[0].execution.output;
    out.lines()
        .find_map(|l| l.strip_prefix("builder uid "))
        .unwrap_or_else(|| panic!("no builder uid in:\n{out}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn the_daemon_builds_as_a_build_user_and_single_user_nix_as_root() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = run(&uid_lab(dir.path(), "daemon"), "host");
    assert_all_as_expected(&daemon);
    let uid = builder_uid(&daemon);
    assert!((30001..=30010).contains(&uid), "the daemon's builder ran as uid {uid}, not nixbld1…10");
    let single = run(&uid_lab(dir.path(), "single-user"), "host");
    assert_all_as_expected(&single);
    assert_eq!(builder_uid(&single), 0, "single-user Nix builds as the user running it (root)");
}

#[test]
fn a_client_probe_runs_unprivileged_and_a_command_probe_as_root() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(
        dir.path(),
        "who",
        r#"description = "who runs probes"
host = "non-nixos"
systems = ["aarch64-linux"]
[[probe]]
kind = "command"
run = "echo \"root? $(id -u) $NIX_REMOTE\"; ls -ln /nix/var/nix/daemon-socket/socket"
[[probe]]
kind = "nix-config"
"#,
    );
    let lab = spec::load(&path).unwrap();
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    // What the backend runs for the nix-config probe drops to the client.
    let client = plan.command_to_run(&plan.probes[1]);
    assert!(client.contains("setpriv --reuid=1000 --regid=1000"), "{client}");
    let report = run(&path, "host");
    assert_all_as_expected(&report);
    assert!(report.verdicts[0].execution.output.contains("root? 0 daemon"), "{}", report.verdicts[0].execution.output);
}

#[test]
fn an_untrusted_option_is_ignored_and_a_nix_conf_edit_waits_for_the_restart() {
    let report = run(&lab_path("nix-daemon-untrusted-settings"), "host");
    assert_all_as_expected(&report);
    let passed: Vec<bool> = report.verdicts.iter().map(|v| v.passed).collect();
    // build with --option, edit, build, edit + restart, build.
    assert_eq!(passed, [false, true, false, true, true], "{report:#?}");
    let trusted = run(&lab_path("nix-daemon-trusted-user"), "host");
    assert_all_as_expected(&trusted);
    assert!(trusted.verdicts[0].passed);
}

#[test]
fn nix_2_26_warns_in_its_own_words_when_it_ignores_an_untrusted_option() {
    let mut report = run(&lab_path("nix-daemon-untrusted-settings"), "trixie");
    assert_all_as_expected(&report);
    let out = &report.verdicts[0].execution.output;
    assert!(
        out.contains("warning: ignoring the client-specified setting 'sandbox-paths', because it is a restricted setting and you are not a trusted user"),
        "{out}"
    );
    let lab = spec::load(&lab_path("nix-daemon-untrusted-settings")).unwrap();
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    // Read as a surprise (a spec expecting the build to pass), it is explained.
    report.verdicts[0].as_expected = false;
    let d = xtask::diagnose::diagnose(&plan, &report.verdicts[0]).expect("a diagnosis");
    assert_eq!(d.cause, xtask::diagnose::Cause::RestrictedSetting);
    let trusted = run(&lab_path("nix-daemon-trusted-user"), "trixie");
    assert_all_as_expected(&trusted);
    assert!(!trusted.verdicts[0].execution.output.contains("ignoring the client-specified setting"));
}

#[test]
fn an_emulated_nix_with_build_users_cannot_load_its_seccomp_filter() {
    // nix#5258 on Nix 2.8 (the host stack takes bookworm's aarch64 nix-bin) and 2.26.
    for stack in ["host", "trixie"] {
        let report = run(&lab_path("nix-5258-seccomp-emulated-nix"), stack);
        assert_all_as_expected(&report);
        let out = &report.verdicts[0].execution.output;
        assert!(out.contains("error: unable to load seccomp BPF program: Invalid argument"), "{stack}: {out}");
    }
}

#[test]
fn bad_daemon_settings_are_errors_naming_the_key_and_the_fix() {
    let base =
        "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n[[probe]]\nkind = \"build\"\n";
    let cases = [
        ("[nix]\nmode = \"demon\"\n", "`nix.mode`", "did you mean \"daemon\""),
        ("[nix]\nmode = \"single-user\"\ntrusted-users = [\"me\"]\n", "`nix.trusted-users`", "mode = \"daemon\""),
        ("[nix]\nmode = \"single-user\"\nemulated = \"aarch64-linux\"\n", "`nix.emulated`", "mode = \"daemon\""),
        ("[nix]\ntrusted-users = [\"a b\"]\n", "`nix.trusted-users[0]`", "white space"),
    ];
    for (nix, key, help) in cases {
        let text = format!("{base}{nix}");
        let err = spec::parse("bad", Path::new("bad.toml"), &text).unwrap_err().to_string();
        assert!(err.contains("bad.toml") && err.contains(key) && err.contains(help), "{nix}: {err}");
    }
    let edit = format!("{base}[[probe]]\nkind = \"nix-conf-edit\"\n");
    let err = spec::parse("bad", Path::new("bad.toml"), &edit).unwrap_err().to_string();
    assert!(err.contains("`probe[1].set`") && err.contains("needs the settings it writes"), "{err}");
    let options = format!("{base}[[probe]]\nkind = \"exec\"\nnix-options = {{ sandbox = \"false\" }}\n");
    let err = spec::parse("bad", Path::new("bad.toml"), &options).unwrap_err().to_string();
    assert!(err.contains("`probe[1].nix-options`") && err.contains("use `nix-options` on build"), "{err}");
}
