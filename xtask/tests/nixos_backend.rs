//! `lab run --backend nixos`: the driver-log parser on logs in the format
//! nixos-25.05's test driver prints, the no-network path with the real Nix
//! (it must end within seconds, exit 2, and say what to do), and a whole run
//! through `nix build -L` with a stand-in nixpkgs whose `runNixOSTest` runs
//! the rendered testScript under a driver printing 25.05's log format.
//!
//! Before any of that, the backend decides whether it can run at all without
//! touching a store: on a simulated fresh machine (no /nix; no daemon; no
//! network; no Nix) it exits 2 saying why, and /nix is still absent after.
//!
//! Every Nix call here uses a store in a temporary directory (`NIX_CONFIG`),
//! so the host's /nix is never written. Needs Debian's nix-bin and python3
//! (and root, for the fresh machine's overlay root).

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use xtask::plan::Plan;
use xtask::render::{Render, VM_HOST_ARCH};
use xtask::run::nixos::{parse_driver_log, preflight, verdicts_from_log};

mod common;

/// A stand-in for nixos-25.05's test driver running a testScript: the
/// script's machine answers `execute` from a list (one answer per call), and
/// everything is logged as 25.05's TerminalLogger prints it
/// (nixos/lib/test-driver/src/test_driver/logger.py): `nested` heads in bright
/// green, `(finished: …, in N seconds)`, `Machine.log` as `machine: msg`, a
/// failed subtest as `!!! Test "…" failed with error: "…"` in red.
const DRIVER_25_05: &str = r#"
import contextlib, json, sys, time

script, answers = open(sys.argv[1]).read(), json.loads(sys.argv[2])
calls = []


def eprint(text):
    print(text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def nested(message):
    eprint("\x1b[1m\x1b[32m" + message + "\x1b[0m")
    tic = time.time()
    yield
    eprint(f"(finished: {message}, in {time.time() - tic:.2f} seconds)")


@contextlib.contextmanager
def subtest(name):
    with nested("subtest: " + name):
        try:
            yield
        except Exception as e:
            eprint("\x1b[31m!!! \x1b[0m" + f'Test "{name}" failed with error: "{e}"')
            raise


class Machine:
    name = "machine"

    def log(self, msg):
        eprint(f"{self.name}: {msg}")

    def execute(self, command, check_return=True, check_output=True, timeout=900):
        status, output = answers[len(calls) % len(answers)]
        calls.append(command)
        return status, output

    def succeed(self, *commands, timeout=None):
        return ""

    def wait_for_unit(self, unit, user=None, timeout=900):
        pass


eprint("additionally exposed symbols:\n    machine,\n    ,\n    start_all, test_script, machines")
with nested("run the VM test script"):
    exec(script, {"machine": Machine(), "start_all": lambda: None, "subtest": subtest})
"#;

/// What the default lab's probes answer: binfmt, nix-config and exec pass,
/// the sandboxed build and compile fail as reported.
fn answers_as_reported() -> serde_json::Value {
    let no_such_file = "error: executing '/nix/store/x-crosslab-payload/sh': No such file or directory\n";
    serde_json::json!([
        [0, "enabled\n"],
        [0, "sandbox = true\n"],
        [0, "aarch64\n"],
        [1, no_such_file],
        [1, no_such_file]
    ])
}

fn xtask() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.current_dir(xtask::project_root());
    cmd
}

/// The environment that gives Nix a store and caches of its own in `dir`.
fn private_nix(cmd: &mut Command, dir: &Path, extra: &str) {
    let store = dir.join("store");
    cmd.env("NIX_CONFIG", format!("store = {}\nbuild-users-group =\nsubstituters =\n{extra}", store.display()))
        .env("XDG_CACHE_HOME", dir.join("cache"));
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The rendered testScript of `lab` as its check builds it, with the node's
/// payload directory.
fn test_script(lab: &xtask::spec::Lab, dir: &Path) -> String {
    let root = xtask::project_root();
    let files =
        Render { root: &root, labs: std::slice::from_ref(lab), with_specs: false, with_modules: true }.files().unwrap();
    let get = |p: &str| files.iter().find(|f| f.path == Path::new(p)).unwrap().text.clone();
    let prelude = "import json\ncrosslab_node = json.loads('{\"payloads_dir\": \"/etc/crosslab/payloads\", \"toolchains_dir\": \"/etc/crosslab/toolchains\"}')\n";
    let script = format!("{prelude}{}{}", get("modules/crosslab_probe.py"), get(&format!("checks/{}.py", lab.name)));
    std::fs::write(dir.join("script.py"), &script).unwrap();
    script
}

#[test]
fn the_driver_log_of_a_rendered_check_gives_every_verdict() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let lab = xtask::load_labs(&xtask::project_root(), &["non-nixos-aarch64".to_owned()]).unwrap().remove(0);
    test_script(&lab, dir.path());
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(DRIVER_25_05)
        .arg(dir.path().join("script.py"))
        .arg(answers_as_reported().to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "the script ran to its end: {}", text(&out));
    // As `nix build -L` shows it: every line prefixed with the derivation's name.
    let log: String =
        String::from_utf8_lossy(&out.stderr).lines().map(|l| format!("vm-test-run-{}> {l}\n", lab.name)).collect();
    let results = parse_driver_log(&log);
    assert_eq!(results.len(), 5, "{log}");
    let plan = Plan::new(&lab, VM_HOST_ARCH);
    let verdicts = verdicts_from_log(&plan, &results, "");
    let labels: Vec<(String, &str)> = verdicts.iter().map(|v| (v.probe.id(), v.label())).collect();
    assert_eq!(
        labels,
        [
            ("binfmt[0]@aarch64-linux".to_owned(), "pass"),
            ("nix-config[1]@aarch64-linux".to_owned(), "pass"),
            ("exec[2]@aarch64-linux".to_owned(), "pass"),
            ("build[3]@aarch64-linux".to_owned(), "xfail"),
            ("compile[4]@aarch64-linux".to_owned(), "xfail"),
        ]
    );
    assert!(verdicts[3].execution.output.contains("No such file or directory"));

    // A cut log: the probes after the cut did not run, and say why.
    let cut: String = log.lines().take_while(|l| !l.contains("exec[2]")).map(|l| format!("{l}\n")).collect();
    let verdicts = verdicts_from_log(&plan, &parse_driver_log(&cut), "the VM did not boot");
    assert!(verdicts[0].as_expected && verdicts[1].as_expected);
    assert!(!verdicts[2].as_expected && verdicts[2].execution.output.contains("the VM did not boot"));

    // Timeouts in the VM (`timeout` exits 124) and garbage after the mark.
    let odd = "vm-test-run-x> machine: crosslab-probe {\"id\": \"build[3]@aarch64-linux\", \"status\": 124, \"duration_ms\": 120000, \"output\": \"\"}\nmachine: crosslab-probe {\"id\": \"binf\n";
    let results = parse_driver_log(odd);
    assert_eq!(results.len(), 1);
    let verdicts = verdicts_from_log(&plan, &results, "");
    assert_eq!(verdicts[3].label(), "TIMEOUT");
}

/// Issue 18: the rendered Python judge, like the Rust one, never accepts a
/// timeout: the default lab's build expects to fail with "No such file or
/// directory", and a build that printed it and then ran out of time (the
/// driver's `timeout` exits 124) fails the test, as `lab run` calls it TIMEOUT.
#[test]
fn the_python_judge_never_accepts_a_timed_out_probe_expected_to_fail() {
    let dir = tempfile::tempdir().unwrap();
    let lab = xtask::load_labs(&xtask::project_root(), &["non-nixos-aarch64".to_owned()]).unwrap().remove(0);
    test_script(&lab, dir.path());
    let no_such_file = "error: executing '/nix/store/x-crosslab-payload/sh': No such file or directory\n";
    let answers = serde_json::json!([
        [0, "enabled\n"],
        [0, "sandbox = true\n"],
        [0, "aarch64\n"],
        [124, no_such_file],
        [1, no_such_file]
    ]);
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(DRIVER_25_05)
        .arg(dir.path().join("script.py"))
        .arg(answers.to_string())
        .output()
        .unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "the test fails on a timed-out probe:\n{said}");
    assert!(said.contains("1 probe(s) not as expected"), "only the timed-out probe:\n{said}");
    assert!(said.contains("build[3]@aarch64-linux: timed out"), "{said}");
    // The Rust judge reads the same log the same way.
    let results = parse_driver_log(&String::from_utf8_lossy(&out.stderr));
    let verdicts = verdicts_from_log(&Plan::new(&lab, VM_HOST_ARCH), &results, "");
    let unexpected: Vec<String> = verdicts.iter().filter(|v| !v.as_expected).map(|v| v.probe.id()).collect();
    assert_eq!(unexpected, ["build[3]@aarch64-linux"]);
    assert_eq!(verdicts[3].label(), "TIMEOUT");
}

/// Issue 18: a probe the log has no result for did not run, so it is never
/// as expected, not even when the spec expects it to fail (with no text to
/// match, any failure would do): it is a failure of its own, said as such.
#[test]
fn a_probe_with_no_logged_result_is_never_an_expected_failure() {
    let text = r#"
description = "one probe expected to fail, with no text to match"
host = "non-nixos"
systems = ["aarch64-linux"]
[[probe]]
kind = "exec"
[[probe]]
kind = "build"
expect = "fail"
"#;
    let lab = xtask::spec::parse("no-result", Path::new("no-result.toml"), text).unwrap();
    let plan = Plan::new(&lab, VM_HOST_ARCH);
    let log = "machine: crosslab-probe {\"id\": \"exec[0]@aarch64-linux\", \"status\": 0, \"duration_ms\": 5, \"output\": \"aarch64\\n\"}\n";
    let verdicts = verdicts_from_log(&plan, &parse_driver_log(log), "the build ended (exit status 1): out of disk");
    assert!(verdicts[0].as_expected, "{:?}", verdicts[0]);
    let missing = &verdicts[1];
    assert!(!missing.as_expected, "a probe that never ran is no expected failure: {missing:?}");
    assert_eq!((missing.label(), missing.status_text().as_str()), ("FAIL", "no result: the probe did not run"));
    assert!(missing.execution.output.contains("out of disk"), "{missing:?}");
    let d = xtask::diagnose::diagnose(&plan, missing).expect("diagnosed");
    assert_eq!(d.cause, xtask::diagnose::Cause::NoResult);
}

#[test]
fn without_network_it_ends_within_seconds_saying_how_to_use_a_local_nixpkgs() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let mut cmd = xtask();
    cmd.args(["lab", "run", "nixos-vm-aarch64", "--backend", "nixos"]);
    private_nix(&mut cmd, dir.path(), "");
    let out = cmd.output().unwrap();
    let took = start.elapsed();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(said.contains("nixpkgs could not be fetched"), "{said}");
    assert!(said.contains("--override-input nixpkgs path:"), "{said}");
    assert!(!Path::new("/nix/store").join("crosslab").exists());
}

#[test]
fn a_whole_run_through_nix_build_gives_the_report_json_and_junit() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    // A stand-in nixpkgs: runNixOSTest builds a derivation whose builder runs
    // the testScript under the 25.05-format driver, so `nix build -L` prints
    // the driver's log as it would for a real NixOS test.
    let fake = dir.path().join("nixpkgs");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(fake.join("driver.py"), DRIVER_25_05).unwrap();
    std::fs::write(
        fake.join("flake.nix"),
        format!(
            r#"{{
  outputs = {{ self }}: {{
    legacyPackages.x86_64-linux.testers.runNixOSTest = test: derivation {{
      name = "vm-test-run-${{test.name}}";
      system = "x86_64-linux";
      builder = "/usr/bin/python3";
      args = [ ./driver.py (builtins.toFile "script.py" (test.testScript {{ nodes.machine.crosslab.payloadsDir = "/etc/crosslab/payloads"; nodes.machine.crosslab.toolchainsDir = "/etc/crosslab/toolchains"; }})) {answers} ];
    }};
  }};
}}
"#,
            answers = xtask::quote::nix(&answers_as_reported().to_string())
        ),
    )
    .unwrap();
    let junit = dir.path().join("junit.xml");
    let mut cmd = xtask();
    cmd.args(["lab", "run", "non-nixos-aarch64", "--backend", "nixos", "--json", "--junit"])
        .arg(&junit)
        .arg("--override-input")
        .arg("nixpkgs")
        .arg(format!("path:{}", fake.display()));
    // The builder is the host's python3: the build's sandbox must see it.
    private_nix(&mut cmd, dir.path(), "extra-sandbox-paths = /usr /lib /lib64 /bin");
    let out = cmd.output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "every probe as expected: {said}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {said}"));
    assert_eq!(json["backend"], "nixos");
    let outcomes: Vec<(&str, &str, bool)> = json["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["outcome"].as_str().unwrap(), p["as_expected"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("binfmt[0]@aarch64-linux", "pass", true),
            ("nix-config[1]@aarch64-linux", "pass", true),
            ("exec[2]@aarch64-linux", "pass", true),
            ("build[3]@aarch64-linux", "fail", true),
            ("compile[4]@aarch64-linux", "fail", true),
        ]
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("build[3]@aarch64-linux") && xml.contains("expected-failure"), "{xml}");
}

#[test]
fn a_locked_sources_store_path_is_the_one_nix_makes_for_it() {
    // A tree added to a store of its own by the real Nix, named `source` as
    // flake inputs are: the path crosslab looks for must be that one.
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("a"), "hello\n").unwrap();
    std::fs::write(tree.join("sub/b"), "x\n").unwrap();
    let nix = |args: &[&str]| {
        let out = Command::new("nix")
            .args(["--extra-experimental-features", "nix-command", "--store"])
            .arg(dir.path().join("store"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "nix {args:?}: {}", text(&out));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let tree = tree.to_str().unwrap();
    let sri = nix(&["hash", "path", "--sri", tree]);
    let added = nix(&["store", "add-path", "--name", "source", tree]);
    assert_eq!(preflight::source_path_name(&sri).map(|n| format!("/nix/store/{n}")), Some(added), "{sri}");
    assert_eq!(preflight::source_path_name("sha256-notbase64!"), None);
}

#[test]
fn without_a_store_or_a_daemon_it_stops_before_nix_makes_one() {
    // Nix's state and store directories pointed at places that do not exist:
    // as on a machine without /nix, where Nix run as root would create them.
    let dir = tempfile::tempdir().unwrap();
    let (state, store) = (dir.path().join("var/nix"), dir.path().join("store"));
    for remote in ["auto", "daemon", "local"] {
        let out = xtask()
            .args(["lab", "run", "nixos-vm-aarch64", "--backend", "nixos"])
            .env("NIX_REMOTE", remote)
            .env("NIX_STATE_DIR", &state)
            .env("NIX_STORE_DIR", &store)
            .env_remove("NIX_CONFIG")
            .output()
            .unwrap();
        let said = text(&out);
        assert_eq!(out.status.code(), Some(2), "NIX_REMOTE={remote}: {said}");
        let why = if remote == "daemon" { "no Nix daemon listens here" } else { "there is no Nix store here" };
        assert!(said.contains(why), "NIX_REMOTE={remote}: {said}");
        assert!(!state.exists() && !store.exists(), "NIX_REMOTE={remote}: Nix made a store: {said}");
    }
}

#[test]
fn an_override_input_that_is_not_there_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-nixpkgs");
    let mut cmd = xtask();
    cmd.args(["lab", "run", "nixos-vm-aarch64", "--backend", "nixos", "--override-input", "nixpkgs"])
        .arg(format!("path:{}", missing.display()));
    private_nix(&mut cmd, dir.path(), "");
    let out = cmd.output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains(&format!("--override-input nixpkgs path:{}", missing.display())), "{said}");
    assert!(said.contains("does not exist"), "{said}");
    assert!(!dir.path().join("store").exists(), "the private store was opened: {said}");
}

#[test]
fn on_a_fresh_machine_it_creates_nothing_and_says_why() {
    // The fresh machine of tests/fresh_machine.rs, keeping Debian's nix-bin
    // (as `lab run` installs it): no /nix, no /etc/nix, no daemon. Every run
    // is without network (`unshare --net`), so nixpkgs cannot be fetched.
    let out = common::in_an_overlay_root(
        r#"exec 2>&1
        command -v nix >/dev/null && test ! -e /nix && test ! -e /etc/nix && echo FRESH-WITH-NIX
        cargo build --quiet -p xtask
        run() { unshare --net cargo xtask lab run nixos-vm-aarch64 --backend nixos; echo "EXIT=$?"; }
        set +e
        echo "== no store"; run; test ! -e /nix && echo NO-NIX-DIR
        echo "== no daemon"; NIX_REMOTE=daemon run; test ! -e /nix && echo NO-NIX-DIR
        echo "== a store without nixpkgs"; mkdir -p /nix/store /nix/var/nix; run
        left=$(find /nix -mindepth 3); test -z "$left" && echo NOTHING-WRITTEN || echo "LEFT: $left"; rm -rf /nix
        echo "== no nix"; dpkg --purge nix-bin >/dev/null 2>&1; ! command -v nix && run; test ! -e /nix && echo NO-NIX-DIR
        echo "== end""#,
        &["nix-setup-systemd".to_owned()],
        true,
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "the fresh root could not run the test ({}):\n{said}", out.status);
    assert!(said.contains("FRESH-WITH-NIX"), "the fresh root was not fresh:\n{said}");
    let case = |name: &str| {
        let start = said.find(&format!("== {name}\n")).unwrap_or_else(|| panic!("no case {name}:\n{said}"));
        let end = start + 3 + said[start + 3..].find("\n== ").unwrap();
        said[start..end].to_owned()
    };
    for (name, why, left) in [
        ("no store", "there is no Nix store here", "NO-NIX-DIR"),
        ("no daemon", "no Nix daemon listens here", "NO-NIX-DIR"),
        ("a store without nixpkgs", "nixpkgs could not be fetched", "NOTHING-WRITTEN"),
        ("no nix", "there is no `nix` in PATH", "NO-NIX-DIR"),
    ] {
        let text = case(name);
        assert!(text.contains("EXIT=2"), "{name}: not exit 2:\n{text}");
        assert!(text.contains(why), "{name}: not said why:\n{text}");
        assert!(text.contains(left), "{name}: the run left something in /nix:\n{text}");
    }
    assert!(case("a store without nixpkgs").contains("--override-input nixpkgs path:"), "{said}");
}
