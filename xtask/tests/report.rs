//! The report for real: each diagnosis comes out of a real host-backend run of
//! a small lab whose expectation is not met (and not out of a lab that works),
//! the terminal report shows the table, the command, the output and the fix,
//! and JUnit XML parses and counts right. (What the report costs is measured
//! by `cargo xtask bench`, not by a timed test.)
//! Needs root, Nix and qemu-user-static (the README's test command installs them).

use std::io::Write;
use std::sync::{Arc, Mutex};

use xtask::diagnose::{diagnose, Cause, Diagnosis};
use xtask::outcome::LabReport;
use xtask::plan::Plan;
use xtask::provision::payload;
use xtask::report::{junit, Terminal};
use xtask::run::run_host;
use xtask::spec::{self, Lab};

mod common;

/// Loads `text` as lab `name` from a temporary directory.
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

/// Runs the lab and returns the diagnosis of its probe of `kind` (with the
/// verdict's output for failure messages).
fn diagnosis_of(name: &str, text: &str, kind: &str) -> (Option<Diagnosis>, String) {
    let lab = lab(name, text);
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    let report = run(&plan);
    let v = report.verdicts.iter().find(|v| v.probe.kind.as_str() == kind).expect("probe kind");
    (diagnose(&plan, v), format!("{}: {}\n{}", v.probe.id(), v.label(), v.execution.output))
}

const FHS_NO_F: &str = r#"
description = "fhs qemu without F, sandbox on, build expected to pass"
host = "non-nixos"
systems = ["aarch64-linux"]
[binfmt]
interpreter = "fhs"
flags = "P"
[nix]
sandbox = true
[[probe]]
kind = "build"
"#;

#[test]
fn interpreter_outside_the_sandbox_is_diagnosed_with_both_fixes() {
    common::test_packages();
    let (d, out) = diagnosis_of("outside", FHS_NO_F, "build");
    let d = d.unwrap_or_else(|| panic!("no diagnosis:\n{out}"));
    assert_eq!(d.cause, Cause::InterpreterOutsideSandbox, "{d:?}");
    assert!(d.fix.contains(r#"extra-sandbox-paths = ["/usr/bin/qemu-aarch64-static"]"#), "{}", d.fix);
    assert!(d.fix.contains("F"), "{}", d.fix);
    // With the path in the sandbox the same build passes: nothing to diagnose.
    let fixed =
        FHS_NO_F.replace("sandbox = true", "sandbox = true\nextra-sandbox-paths = [\"/usr/bin/qemu-aarch64-static\"]");
    let (d, out) = diagnosis_of("fixed", &fixed, "build");
    assert!(d.is_none(), "{d:?}\n{out}");
}

#[test]
fn exec_format_error_without_a_registration_says_nothing_is_registered() {
    common::test_packages();
    let text = r#"
description = "nothing registered, exec expected to pass"
host = "non-nixos"
systems = ["aarch64-linux"]
[binfmt]
interpreter = "none"
[[probe]]
kind = "exec"
"#;
    let (d, out) = diagnosis_of("unregistered", text, "exec");
    let d = d.unwrap_or_else(|| panic!("no diagnosis:\n{out}"));
    assert_eq!(d.cause, Cause::NothingRegistered, "{d:?}");
    assert!(d.summary.contains("nothing registered for aarch64-linux"), "{}", d.summary);
}

#[test]
fn a_wrong_uname_names_the_emulated_cpu_and_the_one_that_matches() {
    common::test_packages();
    let text = r#"
description = "armv6l emulated with an ARMv7 CPU"
host = "non-nixos"
systems = ["armv6l-linux"]
[binfmt]
interpreter = "fhs"
flags = "POF"
[[probe]]
kind = "exec"
qemu-cpu = "cortex-a15"
"#;
    let (d, out) = diagnosis_of("wrong-cpu", text, "exec");
    let d = d.unwrap_or_else(|| panic!("no diagnosis:\n{out}"));
    assert_eq!(d.cause, Cause::WrongMachine, "{d:?}");
    assert!(d.summary.contains("armv7l") && d.summary.contains("cortex-a15"), "{}", d.summary);
    assert!(d.detail.contains("armv7l-linux"), "{}", d.detail);
    assert!(d.fix.contains("QEMU_CPU=arm1176"), "{}", d.fix);
}

#[test]
fn illegal_instruction_says_the_binary_needs_a_newer_cpu() {
    common::test_packages();
    let text = r#"
description = "an ARMv7 binary on an ARMv6 CPU, expected to pass"
host = "non-nixos"
systems = ["armv6l-linux"]
[binfmt]
interpreter = "fhs"
flags = "POF"
[[probe]]
kind = "exec"
payload = "armv7l-linux"
"#;
    let (d, out) = diagnosis_of("illegal", text, "exec");
    let d = d.unwrap_or_else(|| panic!("no diagnosis:\n{out}"));
    assert_eq!(d.cause, Cause::IllegalInstruction, "{d:?}");
    assert!(d.summary.contains("arm1176"), "{}", d.summary);
    assert!(d.fix.contains("QEMU_CPU=cortex-a15"), "{}", d.fix);
}

#[test]
fn a_platform_missing_from_extra_platforms_is_diagnosed() {
    common::test_packages();
    let text = r#"
description = "registered, but Nix is not told it may build aarch64"
host = "non-nixos"
systems = ["aarch64-linux"]
[binfmt]
interpreter = "fhs"
flags = "PF"
[nix]
extra-platforms = []
[[probe]]
kind = "build"
"#;
    let (d, out) = diagnosis_of("no-platform", text, "build");
    let d = d.unwrap_or_else(|| panic!("no diagnosis:\n{out}"));
    assert_eq!(d.cause, Cause::PlatformNotAllowed, "{d:?}");
    assert!(d.fix.contains(r#"extra-platforms = ["aarch64-linux"]"#), "{}", d.fix);
}

#[test]
fn a_sandbox_path_that_does_not_exist_is_diagnosed() {
    common::test_packages();
    let text = r#"
description = "a sandbox path that is not there"
host = "non-nixos"
systems = ["aarch64-linux"]
[binfmt]
interpreter = "fhs"
flags = "PF"
[nix]
extra-sandbox-paths = ["/crosslab-no-such-dir"]
[[probe]]
kind = "build"
"#;
    let (d, out) = diagnosis_of("missing-path", text, "build");
    let d = d.unwrap_or_else(|| panic!("no diagnosis:\n{out}"));
    assert_eq!(d.cause, Cause::MissingSandboxPath, "{d:?}");
    assert!(d.fix.contains("/crosslab-no-such-dir?"), "{}", d.fix);
}

#[test]
fn a_timeout_is_diagnosed_and_an_unexplained_failure_is_not() {
    common::test_packages();
    let text = r#"
description = "a hang, and a plain failure"
host = "non-nixos"
systems = ["aarch64-linux"]
[binfmt]
interpreter = "none"
[[probe]]
kind = "command"
run = "sleep 30"
timeout = 1
[[probe]]
kind = "exec"
expect = "fail"
expect-output = "some other message"
"#;
    let lab = lab("hang", text);
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    let report = run(&plan);
    let d = diagnose(&plan, &report.verdicts[0]).expect("timeout diagnosed");
    assert_eq!(d.cause, Cause::TimedOut);
    // exec failed with "Exec format error" while expected: it is as expected
    // in status but not in output; the registration evidence still explains it.
    assert!(!report.verdicts[1].as_expected);
    let d = diagnose(&plan, &report.verdicts[1]);
    assert_eq!(d.map(|d| d.cause), Some(Cause::NothingRegistered));
}

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Runs `plan` with a plain (not live) terminal report into a buffer.
fn terminal_report(plan: &Plan) -> (LabReport, String) {
    let buffer = Buffer::default();
    let mut terminal = Terminal::new(Arc::new(Mutex::new(buffer.clone())), false);
    let mut systems: Vec<_> = plan.probes.iter().map(|p| p.payload).collect();
    systems.sort_by_key(|s| s.double);
    systems.dedup();
    let payloads = payload::ensure(&xshell::Shell::new().unwrap(), &systems).unwrap();
    terminal.lab_started(plan);
    let report = run_host(plan, &payloads, false, &mut |v| terminal.verdict(plan, v)).unwrap();
    terminal.lab_finished(plan, &report);
    drop(terminal);
    (report, buffer.text())
}

#[test]
fn the_terminal_report_shows_each_probe_the_table_and_each_surprise_explained() {
    common::test_packages();
    let text = r#"
description = "one pass, one expected failure, one surprise, one slow probe"
host = "non-nixos"
systems = ["aarch64-linux", "riscv64-linux"]
[binfmt]
interpreter = "fhs"
flags = "P"
[[probe]]
kind = "exec"
[[probe]]
kind = "build"
systems = ["aarch64-linux"]
expect = "fail"
expect-output = "No such file or directory"
[[probe]]
kind = "build"
systems = ["riscv64-linux"]
[[probe]]
kind = "command"
systems = ["aarch64-linux"]
run = "sleep 1.3"
"#;
    let lab = lab("mixed", text);
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    let (report, out) = terminal_report(&plan);
    assert_eq!(report.verdicts.len(), 5);
    // Each probe's line, with its verdict word.
    assert!(out.contains("✓ pass    exec[0]@aarch64-linux"), "{out}");
    let xfail = out.lines().find(|l| l.contains("✓ xfail   build[1]@aarch64-linux")).unwrap_or_else(|| panic!("{out}"));
    assert!(xfail.ends_with("— fails as reported: \"No such file or directory\""), "{xfail}");
    assert!(out.contains("✗ FAIL    build[2]@riscv64-linux"), "{out}");
    // The slow probe was announced while it ran (plain mode: one line).
    let running = out.find("… running command[3]@aarch64-linux").unwrap_or_else(|| panic!("{out}"));
    let done = out.find("✓ pass    command[3]@aarch64-linux").unwrap_or_else(|| panic!("{out}"));
    assert!(running < done, "{out}");
    // The table: one row per system, `-` where a probe does not run.
    let header = out.lines().find(|l| l.trim_start().starts_with("system ")).unwrap_or_else(|| panic!("{out}"));
    for column in ["exec[0]", "build[1]", "build[2]", "command[3]"] {
        assert!(header.contains(column), "{header}");
    }
    let riscv = out.lines().find(|l| l.trim_start().starts_with("riscv64-linux ")).unwrap_or_else(|| panic!("{out}"));
    assert!(riscv.contains("✓ pass") && riscv.contains("✗ FAIL") && riscv.contains(" - "), "{riscv}");
    // The surprise: command, expectation, status, output, diagnosis and fix.
    let surprise = &out[out.find("✗ FAIL build[2]@riscv64-linux").unwrap_or_else(|| panic!("{out}"))..];
    assert!(surprise.contains("command:   payload=$(readlink -f"), "{surprise}");
    assert!(surprise.contains("expected:  pass, prints the line \"riscv64\""), "{surprise}");
    assert!(surprise.contains("got:       exit status 1"), "{surprise}");
    assert!(surprise.contains("| ") && surprise.contains("No such file or directory"), "{surprise}");
    assert!(
        surprise.contains("diagnosis: ")
            && surprise.contains(r#"extra-sandbox-paths = ["/usr/bin/qemu-riscv64-static"]"#),
        "{surprise}"
    );
    assert!(out.contains("1 of 5 probes NOT as expected; 4 as expected, 1 of them failing as reported"), "{out}");
}

#[test]
fn junit_xml_parses_and_counts_passes_expected_failures_and_failures() {
    common::test_packages();
    let text = r#"
description = "JUnit: a pass, an expected failure, and a failure whose output is hostile to XML"
host = "non-nixos"
systems = ["aarch64-linux"]
[binfmt]
interpreter = "fhs"
flags = "P"
[[probe]]
kind = "exec"
[[probe]]
kind = "build"
expect = "fail"
expect-output = "No such file or directory"
[[probe]]
kind = "command"
run = "printf 'a <tag> & \"q\" ]]> \\001\\033[0m \\r\\n'; exit 3"
"#;
    let lab = lab("junit", text);
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    let report = run(&plan);
    let xml = junit::render(&[(&plan, &report)]);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("3"));
    assert_eq!(root.attribute("failures"), Some("1"));
    let suite = root.children().find(|n| n.has_tag_name("testsuite")).unwrap();
    assert_eq!(suite.attribute("name"), Some("junit"));
    assert_eq!((suite.attribute("tests"), suite.attribute("failures")), (Some("3"), Some("1")));
    let cases: Vec<_> = suite.children().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), 3);
    let name = |n: &roxmltree::Node| n.attribute("name").unwrap().to_owned();
    fn failure<'a, 'i>(n: &roxmltree::Node<'a, 'i>) -> Option<roxmltree::Node<'a, 'i>> {
        n.children().find(|c| c.has_tag_name("failure"))
    }
    let xfail = |n: &roxmltree::Node| {
        n.descendants().any(|c| {
            c.has_tag_name("property")
                && c.attribute("name") == Some("expected-failure")
                && c.attribute("value") == Some("true")
        })
    };
    assert_eq!(name(&cases[1]), "build[1]@aarch64-linux");
    assert!(failure(&cases[0]).is_none() && !xfail(&cases[0]));
    assert!(failure(&cases[1]).is_none() && xfail(&cases[1]), "the expected failure is a pass marked as such");
    let f = failure(&cases[2]).expect("the command's failure");
    assert_eq!(f.attribute("type"), Some("fail"));
    assert!(f.attribute("message").unwrap().contains("exit status 3"), "{:?}", f.attribute("message"));
    // The command is a property, its output is system-out: apart, never one text.
    let property = |n: &roxmltree::Node, name: &str| {
        n.descendants()
            .find(|c| c.has_tag_name("property") && c.attribute("name") == Some(name))
            .and_then(|c| c.attribute("value"))
            .map(str::to_owned)
    };
    let system_out = |n: &roxmltree::Node| {
        n.children().find(|c| c.has_tag_name("system-out")).and_then(|c| c.text()).unwrap_or_default().to_owned()
    };
    let command = property(&cases[2], "command").unwrap();
    assert!(command.ends_with("printf 'a <tag> & \"q\" ]]> \\001\\033[0m \\r\\n'; exit 3"), "{command}");
    let out = system_out(&cases[2]);
    assert!(out.contains("a <tag> & \"q\" ]]>") && !out.contains("printf"), "{out}");
    assert!(!f.text().unwrap_or_default().contains("a <tag>"), "the failure holds the diagnosis, not the output");
    assert_eq!(
        cases.iter().map(|c| property(c, "verdict").unwrap()).collect::<Vec<_>>(),
        ["pass", "xfail", "fail"],
        "the verdict words of --json"
    );
    // A passing probe's output is there too.
    assert!(system_out(&cases[0]).contains("aarch64"), "{}", system_out(&cases[0]));
    assert!(!xml.contains('\u{1}') && !xml.contains('\u{1b}'), "control characters must be stripped");
}

#[test]
fn json_says_each_verdict_in_one_word_with_a_summary() {
    common::test_packages();
    let text = r#"
description = "JSON: a pass, an expected failure, a failure and a pass that should have failed"
host = "non-nixos"
systems = ["aarch64-linux"]
[[probe]]
kind = "exec"
[[probe]]
kind = "command"
run = "echo reported; exit 1"
expect = "fail"
expect-output = "reported"
[[probe]]
kind = "command"
run = "echo broken; exit 3"
[[probe]]
kind = "command"
run = "echo fixed"
expect = "fail"
"#;
    let lab = lab("json-words", text);
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    let report = run(&plan);
    let json = serde_json::to_value(report.to_json_diagnosed(&plan)).unwrap();
    let words: Vec<&str> = json["probes"].as_array().unwrap().iter().map(|p| p["verdict"].as_str().unwrap()).collect();
    assert_eq!(words, ["pass", "xfail", "fail", "xpass"], "{json:#}");
    let summary = &json["summary"];
    assert_eq!(
        [
            &summary["probes"],
            &summary["as_expected"],
            &summary["not_as_expected"],
            &summary["pass"],
            &summary["xfail"],
            &summary["fail"],
            &summary["xpass"],
            &summary["timeout"]
        ],
        [4, 2, 2, 1, 1, 1, 1, 0].map(serde_json::Value::from).each_ref(),
        "{summary:#}"
    );
    let total: u64 = json["probes"].as_array().unwrap().iter().map(|p| p["duration_ms"].as_u64().unwrap()).sum();
    assert_eq!(summary["duration_ms"], total);
    assert_eq!(json["spec"], lab.path.display().to_string());
    assert_eq!(json["host"], "non-nixos");
    // Command and output are apart here too.
    let broken = &json["probes"][2];
    assert!(broken["command"].as_str().unwrap().ends_with("echo broken; exit 3"), "{broken}");
    assert_eq!(broken["output"], "broken\n");
    assert_eq!(broken["title"], "runs `echo broken; exit 3`");
}

#[test]
fn verbose_shows_passing_output_and_system_and_probe_choose_what_runs() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("choose.toml");
    std::fs::write(
        &path,
        r#"
description = "two systems, three probes"
host = "non-nixos"
systems = ["aarch64-linux", "riscv64-linux"]
[[probe]]
kind = "binfmt"
[[probe]]
kind = "exec"
[[probe]]
kind = "command"
run = "echo hello from $CROSSLAB_SYSTEM"
"#,
    )
    .unwrap();
    let xtask = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["lab", "run"])
            .args(args)
            .arg(&path)
            .env("CI", "1")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Without --verbose a passing probe's output is not shown; with it, it is.
    let (code, quiet, _) = xtask(&[]);
    assert_eq!(code, Some(0), "{quiet}");
    assert!(!quiet.contains("| hello from"), "{quiet}");
    let (_, verbose, _) = xtask(&["--verbose"]);
    assert!(verbose.contains("        | hello from aarch64-linux\n"), "{verbose}");
    assert!(verbose.contains("        | hello from riscv64-linux\n"), "{verbose}");
    // The exec probe's output is the payload's `uname -m`.
    assert!(verbose.contains("        | riscv64\n"), "{verbose}");

    let ids = |args: &[&str]| {
        let (code, out, err) = xtask(&[&["--json"], args].concat());
        assert_eq!(code, Some(0), "{out}{err}");
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        json["probes"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&["--system", "riscv64-linux"]),
        ["binfmt[0]@riscv64-linux", "exec[1]@riscv64-linux", "command[2]@riscv64-linux"]
    );
    assert_eq!(ids(&["--probe", "exec"]), ["exec[1]@aarch64-linux", "exec[1]@riscv64-linux"]);
    assert_eq!(ids(&["--probe", "2", "--system", "aarch64-linux"]), ["command[2]@aarch64-linux"]);
    assert_eq!(ids(&["--probe", "binfmt[0],command"]).len(), 4);

    // A word that names nothing is an error (exit 2) naming what there is.
    let (code, _, err) = xtask(&["--system", "s390x-linux"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("does not emulate `s390x-linux`") && err.contains("aarch64-linux, riscv64-linux"), "{err}");
    let (code, _, err) = xtask(&["--probe", "biuld"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("`biuld` names no probe kind"), "{err}");
    let (code, _, err) = xtask(&["--probe", "build"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("its probes are binfmt[0], exec[1], command[2]"), "{err}");
}
