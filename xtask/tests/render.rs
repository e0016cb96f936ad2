//! `lab render`: the rendered flake parses, its test scripts pass the lint and
//! type check nixosTest runs, the committed render is fresh, and hostile spec
//! text stays data.
//!
//! Needs Debian's nix-bin (nix-instantiate), python3, python3-pyflakes and mypy.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use expect_test::expect_file;
use xtask::plan::Plan;
use xtask::render::{Render, RenderedFile, VM_HOST_ARCH};
use xtask::spec::Lab;

mod common;
use common::{assert_success, NO_STORE};

/// Debian's python3: the one its pyflakes and mypy are installed for.
const PYTHON: &str = "/usr/bin/python3";

// The checks as nixos-25.05 (the revision flake.lock pins) builds a test's
// driver, nixos/lib/testing/driver.nix:
//
// - lint: `PYFLAKES_BUILTINS="<node names>,$(cat driver-symbols)" pyflakes
//   test-script`, where `driver-symbols` is what `generate-driver-symbols`
//   writes: the keys of `Driver.test_symbols()` of a driver without machines
//   (nixos/lib/test-driver/src/test_driver/driver.py), comma-separated;
// - type check: `mypy --no-implicit-optional --pretty --no-color-output` on
//   nixos/lib/test-script-prepend.py, then one line `<node>: Machine;` per
//   node (all on one line), then a line of `vlan<n>: VLan;` (empty here), then
//   the script. A single node is also `machine`.

/// `Driver.test_symbols()` of nixos-25.05 without machines, in its order.
const DRIVER_SYMBOLS_25_05: &str = "start_all,test_script,machines,vlans,driver,log,os,create_machine,subtest,\
run_tests,join_all,retry,serial_stdout_off,serial_stdout_on,polling_condition,Machine,t";

/// What test-script-prepend.py of nixos-25.05 declares (our restatement of its
/// names and types; the driver's modules come from [`DRIVER_STUBS`]).
const TEST_SCRIPT_PRELUDE_25_05: &str = r#"from test_driver.driver import Driver
from test_driver.vlan import VLan
from test_driver.machine import Machine
from test_driver.logger import AbstractLogger
from typing import Callable, ContextManager, Optional, List, Union
from typing_extensions import Protocol
from unittest import TestCase


class RetryProtocol(Protocol):
    def __call__(self, fn: Callable, timeout: int = 900) -> None:
        raise Exception("type information only")


class PollingConditionProtocol(Protocol):
    def __call__(
        self,
        fun_: Optional[Callable] = None,
        *,
        seconds_interval: float = 2.0,
        description: Optional[str] = None,
    ) -> Union[Callable[[Callable], ContextManager], ContextManager]:
        raise Exception("type information only")


class CreateMachineProtocol(Protocol):
    def __call__(
        self,
        start_command: str | dict,
        *,
        name: Optional[str] = None,
        keep_vm_state: bool = False,
    ) -> Machine:
        raise Exception("type information only")


start_all: Callable[[], None]
subtest: Callable[[str], ContextManager[None]]
retry: RetryProtocol
test_script: Callable[[], None]
machines: List[Machine]
vlans: List[VLan]
driver: Driver
log: AbstractLogger
create_machine: CreateMachineProtocol
run_tests: Callable[[], None]
join_all: Callable[[], None]
serial_stdout_off: Callable[[], None]
serial_stdout_on: Callable[[], None]
polling_condition: PollingConditionProtocol
t: TestCase
"#;

/// Type-only stand-ins for the `test_driver` package mypy imports, with the
/// signatures of nixos-25.05's test_driver/machine.py for what scripts use.
const DRIVER_STUBS: &[(&str, &str)] = &[
    ("test_driver/__init__.pyi", ""),
    ("test_driver/driver.pyi", "class Driver:\n    pass\n"),
    ("test_driver/vlan.pyi", "class VLan:\n    nr: int\n"),
    (
        "test_driver/logger.pyi",
        "class AbstractLogger:\n    def log(self, message: str, attributes: dict[str, str] = {}) -> None: ...\n    def info(self, *args, **kwargs) -> None: ...  # type: ignore\n",
    ),
    (
        "test_driver/machine.pyi",
        r#"class Machine:
    name: str

    def log(self, msg: str) -> None: ...

    def execute(
        self,
        command: str,
        check_return: bool = True,
        check_output: bool = True,
        timeout: int | None = 900,
    ) -> tuple[int, str]: ...

    def succeed(self, *commands: str, timeout: int | None = None) -> str: ...

    def fail(self, *commands: str, timeout: int | None = None) -> str: ...

    def wait_for_unit(self, unit: str, user: str | None = None, timeout: int = 900) -> None: ...
"#,
    ),
];

/// The node names a rendered check declares (one node, `machine`).
const NODE_NAMES: &[&str] = &["machine"];

/// The payload directory the node module declares (crosslab.payloadsDir).
const PAYLOADS_DIR: &str = "/etc/crosslab/payloads";

fn root() -> PathBuf {
    xtask::project_root()
}

fn all_labs() -> Vec<Lab> {
    xtask::load_labs(&root(), &[]).unwrap()
}

/// Renders `labs` into a fresh directory, as `lab render --out` does.
fn render_into(labs: &[Lab]) -> (tempfile::TempDir, Vec<RenderedFile>) {
    let dir = tempfile::tempdir().unwrap();
    let files = Render { root: &root(), labs, with_specs: false, with_modules: true }.files().unwrap();
    for file in &files {
        let path = dir.path().join(&file.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &file.text).unwrap();
    }
    (dir, files)
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("could not execute {cmd:?}: {e}"));
    out
}

// Parsing and evaluating need no store (`NO_STORE`): without it, Nix as root
// creates /nix/var and a store database on a machine that has no /nix.
fn nix_parses(path: &Path) {
    let out = run(Command::new("nix-instantiate").args(NO_STORE).arg("--parse").arg(path));
    assert_success(&format!("nix-instantiate --parse {}", path.display()), &out);
}

/// Evaluates `expr` with nix-instantiate, as JSON.
fn nix_eval(expr: &str) -> serde_json::Value {
    let out =
        run(Command::new("nix-instantiate").args(NO_STORE).args(["--eval", "--strict", "--json", "--expr", expr]));
    assert_success(&format!("nix-instantiate --eval {expr}"), &out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `checks/<lab>.nix` evaluated with a stand-in for nixpkgs: runNixOSTest
/// returns its argument, so the test's attributes can be read back.
fn test_attrs(dir: &Path, lab: &str) -> String {
    format!(
        "(import {} {{ pkgs = {{ testers.runNixOSTest = test: test; }}; }})",
        dir.join("checks").join(format!("{lab}.nix")).display()
    )
}

/// The testScript exactly as nixosTest receives it: the JSON prelude from
/// checks/<lab>.nix followed by checks/<lab>.py.
fn test_script(dir: &Path, lab: &str) -> String {
    let expr =
        format!("{}.testScript {{ nodes.machine.crosslab.payloadsDir = \"{PAYLOADS_DIR}\"; nodes.machine.crosslab.toolchainsDir = \"/etc/crosslab/toolchains\"; }}", test_attrs(dir, lab));
    nix_eval(&expr).as_str().unwrap().to_owned()
}

/// Lints and type-checks a test script the way nixos-25.05's driver.nix does (never skipped).
fn lint_test_script(name: &str, script: &str) {
    if let Err(failure) = driver_checks(name, script) {
        panic!("{failure}");
    }
}

/// The driver's checks of a test script: py_compile, then pyflakes with the
/// driver's builtins, then mypy on the typed script; the first that fails.
fn driver_checks(name: &str, script: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.py"));
    std::fs::write(&file, script).unwrap();
    let failed = |what: &str, out: &Output| {
        format!(
            "{what} on {name}'s testScript failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let out = run(Command::new(PYTHON).args(["-m", "py_compile"]).arg(&file));
    if !out.status.success() {
        return Err(failed("py_compile", &out));
    }
    let builtins = format!("{},{DRIVER_SYMBOLS_25_05}", NODE_NAMES.join(","));
    let out = run(Command::new(PYTHON).args(["-m", "pyflakes"]).arg(&file).env("PYFLAKES_BUILTINS", builtins));
    if !out.status.success() {
        return Err(failed("pyflakes", &out));
    }

    let stubs = dir.path().join("stubs");
    for (path, text) in DRIVER_STUBS {
        let path = stubs.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    // `echo "${toString machineNames}"`, `echo "${toString vlanNames}"`, `echo -n "$testScript"`.
    let node_hints: Vec<String> = NODE_NAMES.iter().map(|n| format!("{n}: Machine;")).collect();
    let typed = dir.path().join("testScriptWithTypes");
    std::fs::write(&typed, format!("{TEST_SCRIPT_PRELUDE_25_05}{}\n\n{script}", node_hints.join(" "))).unwrap();
    // One mypy cache per test (thread), kept between runs: mypy then reads
    // the standard library's types once, not once per script (cold, ~2 s each).
    let thread = std::thread::current();
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mypy-cache").join(thread.name().unwrap_or("main"));
    let out = run(Command::new(PYTHON)
        .args(["-m", "mypy", "--no-implicit-optional", "--pretty", "--no-color-output", "--cache-dir"])
        .arg(cache)
        .arg(&typed)
        .env("MYPYPATH", &stubs));
    if !out.status.success() {
        return Err(failed("mypy", &out));
    }
    Ok(())
}

#[test]
fn the_gate_declares_what_nixos_25_05_declares() {
    common::test_packages();
    // 25.05's symbols and types pass: `t` (unittest assertions), `Machine`, the node.
    let ok = "start_all()\nmachine.wait_for_unit(\"multi-user.target\")\nstatus, out = machine.execute(\"true\", timeout=10)\nt.assertEqual(status, 0)\nms: list[Machine] = machines\n";
    assert_eq!(driver_checks("ok", ok), Ok(()));
    // Newer drivers' names (QemuMachine, machines_qemu) are not 25.05's: pyflakes rejects them.
    let newer = "start_all()\nfor m in machines_qemu:\n    m.succeed(\"true\")\n";
    let failure = driver_checks("newer", newer).unwrap_err();
    assert!(failure.contains("undefined name 'machines_qemu'"), "{failure}");
    // The types are the driver's: execute returns (status, output), not a string.
    let mistyped = "output: str = machine.execute(\"true\")\n";
    let failure = driver_checks("mistyped", mistyped).unwrap_err();
    assert!(failure.starts_with("mypy"), "{failure}");
}

#[test]
fn every_rendered_nix_file_parses() {
    common::test_packages();
    let labs = all_labs();
    let (dir, files) = render_into(&labs);
    for file in files.iter().filter(|f| f.path.extension().is_some_and(|e| e == "nix")) {
        nix_parses(&dir.path().join(&file.path));
    }
    nix_parses(&root().join("flake.nix"));
}

#[test]
fn every_test_script_passes_pyflakes_and_mypy() {
    common::test_packages();
    let labs = all_labs();
    let (dir, _) = render_into(&labs);
    for lab in &labs {
        let script = test_script(dir.path(), &lab.name);
        let py = std::fs::read_to_string(dir.path().join(format!("checks/{}.py", lab.name))).unwrap();
        assert!(script.ends_with(&py), "the testScript of {} ends with checks/{}.py", lab.name, lab.name);
        lint_test_script(&lab.name, &script);
    }
}

#[test]
fn rendered_tests_configure_the_node_from_the_spec() {
    common::test_packages();
    let labs = all_labs();
    let (dir, _) = render_into(&labs);
    let node = |lab: &str| {
        // The node module with a stand-in pkgs; only plain settings are read back.
        format!("({}.nodes.machine {{ pkgs = {{ }}; }})", test_attrs(dir.path(), lab))
    };
    let fhs = nix_eval(&format!(
        "let n = {}; in {{ inherit (n.nix.settings) sandbox extra-platforms; emulators = n.crosslab.fhsEmulators; binfmt = n.boot or null; memory = n.virtualisation.memorySize or null; }}",
        node("non-nixos-aarch64")
    ));
    assert_eq!(
        fhs,
        serde_json::json!({"sandbox": true, "extra-platforms": ["aarch64-linux"], "emulators": ["aarch64"], "binfmt": null, "memory": 2048})
    );
    let memory = |lab: &str| nix_eval(&format!("{}.virtualisation.memorySize or null", node(lab)));
    assert_eq!(memory("emulated-compile-rust"), serde_json::json!(4096), "rustc under emulation needs more");
    assert_eq!(memory("multiarch-uname"), serde_json::Value::Null, "no compile probe: qemu-vm.nix's default");
    let nixos = nix_eval(&format!(
        "let n = {}; in {{ inherit (n.boot.binfmt) emulatedSystems preferStaticEmulators; emulators = n.crosslab.fhsEmulators or null; }}",
        node("nixos-static-emulators")
    ));
    assert_eq!(
        nixos,
        serde_json::json!({"emulatedSystems": ["aarch64-linux"], "preferStaticEmulators": true, "emulators": null})
    );
}

fn golden(files: &[RenderedFile], path: &str) -> String {
    files.iter().find(|f| f.path == Path::new(path)).unwrap_or_else(|| panic!("{path} is rendered")).text.clone()
}

#[test]
fn golden_files() {
    common::test_packages();
    let labs: Vec<Lab> = all_labs()
        .into_iter()
        .filter(|l| l.name == "non-nixos-aarch64" || l.name == "nixos-static-emulators")
        .collect();
    let files = Render { root: &root(), labs: &labs, with_specs: false, with_modules: false }.files().unwrap();
    expect_file!["golden/non-nixos-aarch64.nix"].assert_eq(&golden(&files, "checks/non-nixos-aarch64.nix"));
    expect_file!["golden/non-nixos-aarch64.py"].assert_eq(&golden(&files, "checks/non-nixos-aarch64.py"));
    expect_file!["golden/nixos-static-emulators.nix"].assert_eq(&golden(&files, "checks/nixos-static-emulators.nix"));
    expect_file!["golden/nixos-static-emulators.py"].assert_eq(&golden(&files, "checks/nixos-static-emulators.py"));
    expect_file!["golden/flake.nix"].assert_eq(&golden(&files, "flake.nix"));
}

fn xtask() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.current_dir(root());
    cmd
}

#[test]
fn committed_render_is_fresh() {
    common::test_packages();
    let out = run(xtask().args(["lab", "render", "--check"]));
    assert_success("`cargo xtask lab render --check` on the committed tree (run `cargo xtask lab render`)", &out);
}

#[test]
fn check_mode_names_stale_and_missing_files_and_writes_nothing() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    assert_success("render --out", &run(xtask().args(["lab", "render", "--out", out_dir])));
    assert_success("render --check --out", &run(xtask().args(["lab", "render", "--check", "--out", out_dir])));

    let edited = dir.path().join("checks/non-nixos-aarch64.py");
    std::fs::write(&edited, "# hand-edited\n").unwrap();
    std::fs::remove_file(dir.path().join("checks/nixos-vm-aarch64.nix")).unwrap();
    let out = run(xtask().args(["lab", "render", "--check", "--out", out_dir]));
    assert_eq!(out.status.code(), Some(1), "stale output exits 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("checks/non-nixos-aarch64.py: differs"), "{stderr}");
    assert!(stderr.contains("checks/nixos-vm-aarch64.nix: missing"), "{stderr}");
    assert!(stderr.contains("cargo xtask lab render"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&edited).unwrap(), "# hand-edited\n", "--check writes nothing");

    // A render rewrites exactly what is stale.
    let untouched = dir.path().join("checks/multiarch-uname.py");
    let before = std::fs::metadata(&untouched).unwrap().modified().unwrap();
    let out = run(xtask().args(["lab", "render", "--out", out_dir]));
    assert_success("render --out", &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 2, "only the two stale files are written:\n{stdout}");
    assert_eq!(std::fs::metadata(&untouched).unwrap().modified().unwrap(), before);
    assert_success("render --check --out", &run(xtask().args(["lab", "render", "--check", "--out", out_dir])));
}

/// Text that breaks naive quoting in Nix, Python and shell.
const HOSTILE: &str =
    "${builtins.abort \"x\"} ''${y} '' \"\"\" ''' it's \"double\" \\ \\n \\\\ $out `id`\nsecond ''line''\n";

#[test]
fn hostile_spec_text_stays_data() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let toml_text = |s: &str| serde_json::to_string(s).unwrap(); // a JSON string is a TOML basic string here
    let spec = format!(
        r#"description = {desc}
host = "non-nixos"
systems = ["aarch64-linux"]

[binfmt]
interpreter = "fhs"
flags = "P"

[nix]
extra-sandbox-paths = [{path}]

[[probe]]
kind = "command"
run = {run}
expect = "fail"
expect-output = {want}
"#,
        desc = toml_text(HOSTILE),
        path = toml_text("/odd/${x}/''/it's\"q\\"),
        run = toml_text(&format!("printf '%s' {}; exit 3\n# {HOSTILE}", xtask::quote::sh(HOSTILE))),
        want = toml_text(HOSTILE),
    );
    let spec_path = dir.path().join("hostile.toml");
    std::fs::write(&spec_path, spec).unwrap();
    let lab = xtask::spec::load(&spec_path).unwrap();
    assert_eq!(lab.description, HOSTILE);

    let out_dir = dir.path().join("out");
    let out = run(xtask().args(["lab", "render"]).arg(&spec_path).arg("--out").arg(&out_dir));
    assert_success("render of the hostile spec", &out);
    for file in ["flake.nix", "checks/hostile.nix"] {
        nix_parses(&out_dir.join(file));
    }

    // The Nix strings mean exactly the spec's text.
    let node = nix_eval(&format!(
        "let n = {}.nodes.machine {{ pkgs = {{ }}; }}; in {{ d = n.crosslab.description; p = n.nix.settings.extra-sandbox-paths; }}",
        test_attrs(&out_dir, "hostile")
    ));
    assert_eq!(node["d"], HOSTILE);
    assert_eq!(node["p"], serde_json::json!([lab.nix.extra_sandbox_paths[0]]));

    // The script compiles and lints, and runs the plan's command and judges
    // the plan's expectation, byte for byte.
    let script = test_script(&out_dir, "hostile");
    lint_test_script("hostile", &script);
    let plan = Plan::new(&lab, VM_HOST_ARCH);
    let probe = &plan.probes[0];
    let script_file = dir.path().join("script.py");
    std::fs::write(&script_file, &script).unwrap();
    let replay = |status: i32, output: &str| {
        run(Command::new(PYTHON).arg("-c").arg(FAKE_DRIVER).arg(&script_file).arg(status.to_string()).arg(output))
    };
    let out = replay(3, &format!("{HOSTILE}\n"));
    assert_success("the testScript under a fake driver", &out);
    let executed: Vec<Vec<String>> = serde_json::from_slice(&out.stdout).unwrap();
    let probe_run = executed.last().unwrap();
    assert_eq!(probe_run[..3], [format!("CROSSLAB_PAYLOADS={PAYLOADS_DIR}"), "/bin/sh".into(), "-c".into()]);
    assert_eq!(probe_run[3], probe.command, "the VM runs exactly the plan's command");
    assert!(executed.iter().any(|c| c.join(" ").contains(&plan.registrations[0].line())));

    let out = replay(3, "something else");
    assert!(!out.status.success(), "output without the expected text fails the test");
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected the output to contain"));
}

/// Runs a testScript with stand-ins for the driver: every command the
/// script gives the machine is printed (split as the shell would), and every
/// `execute` answers with the status and output from the command line.
const FAKE_DRIVER: &str = r#"
import contextlib, json, shlex, sys

script, status, output = sys.argv[1], int(sys.argv[2]), sys.argv[3]
commands = []

class FakeMachine:
    def log(self, msg):
        print(f"machine: {msg}", file=sys.stderr)

    def execute(self, command, check_return=True, check_output=True, timeout=900):
        commands.append(shlex.split(command))
        return status, output

    def succeed(self, *cmds, timeout=None):
        commands.extend(shlex.split(c) for c in cmds)
        return ""

    def wait_for_unit(self, unit, user=None, timeout=900):
        pass

@contextlib.contextmanager
def subtest(name):
    yield

exec(open(script).read(), {"machine": FakeMachine(), "start_all": lambda: None, "subtest": subtest})
print(json.dumps(commands))
"#;

#[test]
fn flake_lock_pins_one_nixos_25_05_revision_and_render_keeps_it() {
    common::test_packages();
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("flake.lock")).unwrap()).unwrap();
    let input = &lock["nodes"][lock["nodes"]["root"]["inputs"]["nixpkgs"].as_str().unwrap()];
    // The lock's `original` is the flake's url, so Nix uses the lock as it is.
    let original = &input["original"];
    let url = format!(
        "{}:{}/{}/{}",
        original["type"].as_str().unwrap(),
        original["owner"].as_str().unwrap(),
        original["repo"].as_str().unwrap(),
        original["ref"].as_str().unwrap()
    );
    assert_eq!(url, xtask::render::NIXPKGS.url);
    let locked = &input["locked"];
    let rev = locked["rev"].as_str().unwrap();
    assert!(rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()), "a full revision: {rev}");
    assert!(locked["narHash"].as_str().unwrap().starts_with("sha256-"), "{locked}");

    // A flake rendered elsewhere carries the lock; the repository's is never written.
    let before = std::fs::metadata(root().join("flake.lock")).unwrap().modified().unwrap();
    let dir = tempfile::tempdir().unwrap();
    assert_success("render --out", &run(xtask().args(["lab", "render", "non-nixos-aarch64", "--out"]).arg(dir.path())));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("flake.lock")).unwrap(),
        std::fs::read_to_string(root().join("flake.lock")).unwrap()
    );
    assert_success("render --check", &run(xtask().args(["lab", "render", "--check"])));
    assert_eq!(std::fs::metadata(root().join("flake.lock")).unwrap().modified().unwrap(), before);
}

/// The `"<key>" = <expr>;` entries of `crosslab.<option> = { … };` in a
/// rendered check: the packages its node is given.
fn node_entries(nix: &str, option: &str) -> Vec<String> {
    let open = format!("crosslab.{option} = {{");
    let Some(start) = nix.find(&open) else { return Vec::new() };
    let body = &nix[start + open.len()..];
    let body = &body[..body.find("\n      };").unwrap_or_else(|| panic!("crosslab.{option} is closed"))];
    body.lines()
        .filter_map(|l| l.trim().split_once(" = "))
        .map(|(_, expr)| expr.strip_suffix(';').unwrap_or(expr).to_owned())
        .collect()
}

/// The text of `nix` without its comment lines.
fn code_lines(nix: &str) -> String {
    nix.lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n")
}

/// The labs flake.nix lists under `<output>.${system}`.
fn flake_output_labs(flake: &str, output: &str) -> Vec<String> {
    let open = format!("      {output}.${{system}} = {{");
    let start = flake.find(&open).unwrap_or_else(|| panic!("flake.nix has {output}")) + open.len();
    let body = &flake[start..];
    let body = &body[..body.find("\n      };").unwrap()];
    body.lines()
        .filter_map(|l| {
            l.trim().strip_prefix('"')?.split_once("\" = import ./checks/").map(|(name, _)| name.to_owned())
        })
        .collect()
}

#[test]
fn checks_use_no_cross_built_package_and_cross_checks_hold_the_labs_that_build_from_source() {
    use xtask::render::closure::{self, Origin};
    let labs = all_labs();
    let (_dir, files) = render_into(&labs);
    let flake = golden(&files, "flake.nix");
    let checks = flake_output_labs(&flake, "checks");
    let cross = flake_output_labs(&flake, "crossChecks");
    for lab in &labs {
        let plan = Plan::new(lab, VM_HOST_ARCH);
        let parts = closure::parts(&plan);
        // The spec's description is text, not a package.
        let nix: String = code_lines(&golden(&files, &format!("checks/{}.nix", lab.name)))
            .lines()
            .filter(|l| !l.trim_start().starts_with("crosslab.description = "))
            .collect::<Vec<_>>()
            .join("\n");
        let (in_checks, in_cross) = (checks.contains(&lab.name), cross.contains(&lab.name));
        // A lab a NixOS test cannot model is in neither, and says why.
        if closure::not_a_nixos_test(&plan).is_some() {
            assert!(!in_checks && !in_cross, "{} is not a NixOS test, yet in the flake", lab.name);
            continue;
        }
        assert!(in_checks != in_cross, "{} is under exactly one of checks and crossChecks", lab.name);
        if in_checks {
            assert!(!nix.contains("pkgsCross"), "checks.{} names pkgsCross:\n{nix}", lab.name);
            assert!(!nix.contains("pkgsStatic"), "checks.{} names a pkgsStatic package:\n{nix}", lab.name);
            let built: Vec<&str> =
                parts.iter().filter(|p| p.origin == Origin::Source).map(|p| p.what.as_str()).collect();
            assert!(built.is_empty(), "checks.{} builds from source: {built:?}", lab.name);
        } else {
            assert!(
                parts.iter().any(|p| p.origin == Origin::Source) && nix.contains("pkgsCross"),
                "crossChecks.{} builds nothing from source",
                lab.name
            );
        }
    }
    // The untrusted client, the emulated Nix and a NixOS older than the
    // flake's 25.05 are host- and vm-backend labs.
    for name in ["nix-daemon-untrusted-settings", "nix-5258-seccomp-emulated-nix", "nixpkgs-218465-own-system-emulated"]
    {
        assert!(!checks.contains(&name.to_owned()) && !cross.contains(&name.to_owned()), "{name} is in the flake");
    }
    // The labs the issue is about stay in `nix flake check`; the cross-built toolchains do not.
    for name in ["non-nixos-aarch64", "multiarch-uname", "nixos-chroot-dynamic-emulator-fix-static"] {
        assert!(checks.contains(&name.to_owned()), "{name} is under checks: {checks:?}");
    }
    for name in ["emulated-compile", "emulated-compile-rust", "nixos-vm-riscv64"] {
        assert!(cross.contains(&name.to_owned()), "{name} is under crossChecks: {cross:?}");
    }
    // The node module names one static package, the emulator a NixOS test of the release builds.
    let module = std::fs::read_to_string(root().join("modules/crosslab-node.nix")).unwrap();
    // Option examples are documentation (literalExpression), not packages the node uses.
    let code: String =
        code_lines(&module).lines().filter(|l| !l.contains("literalExpression")).collect::<Vec<_>>().join("\n");
    let statics: Vec<&str> = code.match_indices("pkgsStatic.").map(|(i, _)| &code[i..i + 20]).collect();
    assert!(statics.iter().all(|s| s.starts_with("pkgsStatic.qemu-user")), "{statics:?}");
    assert!(!code.contains("pkgsCross"), "the node module names pkgsCross");
}

#[test]
fn what_lab_show_lists_for_a_check_is_what_its_node_is_given() {
    use xtask::render::closure;
    let labs = all_labs();
    let (_dir, files) = render_into(&labs);
    for lab in &labs {
        let plan = Plan::new(lab, VM_HOST_ARCH);
        let nix = code_lines(&golden(&files, &format!("checks/{}.nix", lab.name)));
        let mut given: Vec<String> = ["payloadDebs", "toolchains", "crossCompilers"]
            .iter()
            .flat_map(|option| node_entries(&nix, option))
            .collect();
        given.sort();
        // The emulators come in through the module (fhsEmulators) or NixOS's binfmt module.
        let mut listed: Vec<String> = closure::parts(&plan)
            .into_iter()
            .map(|p| p.expr)
            .filter(|e| !e.starts_with("pkgs.qemu-user") && !e.starts_with("pkgs.pkgsStatic.qemu-user"))
            .filter(|e| e != "pkgs.wrapQemuBinfmtP")
            .collect();
        listed.sort();
        assert_eq!(given, listed, "checks/{}.nix", lab.name);
        let emulated = nix.contains("crosslab.fhsEmulators") || nix.contains("boot.binfmt.emulatedSystems");
        let has_qemu = closure::parts(&plan).iter().any(|p| p.what.starts_with("qemu-user"));
        assert_eq!(emulated, has_qemu, "{}: an emulator is listed exactly when the node has one", lab.name);
    }
}

#[test]
fn every_system_has_a_hash_pinned_debian_busybox() {
    for system in xtask::systems::SYSTEMS {
        let (file, sha256) = xtask::render::closure::debian_busybox(system)
            .unwrap_or_else(|| panic!("no Debian busybox-static for {}", system.double));
        assert!(file.starts_with("pool/main/b/busybox/busybox-static_"), "{file}");
        assert!(file.ends_with(&format!("_{}.deb", system.debian_arch)), "{file} is for {}", system.debian_arch);
        assert!(sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit()), "{sha256}");
    }
}

const CLOSURE_BEGIN: &str = "<!-- closure:begin -->\n";
const CLOSURE_END: &str = "<!-- closure:end -->";

#[test]
fn the_readme_table_is_what_every_rendered_check_downloads_and_builds() {
    let mut labs = all_labs();
    // Labs of another host architecture are not rendered (`lab render` says so).
    labs.retain(|l| l.host_system.is_none_or(|h| h.arch == VM_HOST_ARCH));
    labs.sort_by(|a, b| a.name.cmp(&b.name));
    let plans: Vec<Plan> = labs.iter().map(|l| Plan::new(l, VM_HOST_ARCH)).collect();
    let fresh = format!(
        "<!-- generated from xtask/src/render/closure.rs; do not edit: `UPDATE_EXPECT=1 cargo test --test render` rewrites it -->\n{}",
        xtask::render::closure::markdown_table(&plans)
    );
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start =
        readme.find(CLOSURE_BEGIN).expect("README.md has a <!-- closure:begin --> marker") + CLOSURE_BEGIN.len();
    let end = start + readme[start..].find(CLOSURE_END).expect("README.md has a <!-- closure:end --> marker");
    if readme[start..end] != fresh {
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(&path, format!("{}{fresh}{}", &readme[..start], &readme[end..])).unwrap();
            return;
        }
        panic!(
            "README.md's table of what the checks download and build is stale\n  help: UPDATE_EXPECT=1 cargo test --test render\n--- README.md\n{}\n--- now\n{fresh}",
            &readme[start..end]
        );
    }
}
