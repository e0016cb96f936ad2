//! Hostile text through every output. Descriptions, sandbox paths, commands
//! and expected output holding `${…}`, `''`, `"""`, quotes, backslashes, line
//! breaks, NUL, escape sequences, 1 MB lines and bytes that are not UTF-8 are
//! either rejected by validation with an error that names the file, the key
//! and the fix, or carried as data: in the rendered Nix and Python (read back
//! by nix-instantiate and python3), in the shell commands the plan builds (run
//! by /bin/sh), and in a run's JSON, JUnit XML, Markdown matrix and terminal
//! report (from a real host-backend run, and from made-up reports).
//!
//! Needs root, Nix, python3 and qemu-user-static, like tests/report.rs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value as Json};
use xtask::outcome::Execution;
use xtask::outcome::LabReport;
use xtask::plan::Plan;
use xtask::quote;
use xtask::render::{Render, VM_HOST_ARCH};
use xtask::report::{junit, Terminal};
use xtask::spec::{self, Lab, ProbeKind};

mod common;
use common::{assert_success, write_spec, NO_STORE};

/// Debian's python3, as in tests/render.rs.
const PYTHON: &str = "/usr/bin/python3";

/// Text that breaks naive quoting in Nix, Python, shell, TOML, XML, Markdown
/// and terminals. It has every character class but NUL (which validation
/// rejects): controls, DEL, C1, line and paragraph separators, a BOM, a
/// noncharacter XML cannot hold, and characters outside the BMP.
const HOSTILE: &str = "${builtins.abort \"x\"} ''${y} '' ''\\ \"\"\" ''' it's \"q\" \\ \\n \\\\ `id` $(id) $HOME %s %n \
{{ x }} {% if %} | a\\|b <b>&amp; ]]> --> \t\r\n\u{1b}[31mred\u{1b}[0m \u{1b}]0;title\u{7} \u{8}\u{b}\u{c}\u{7f}\u{85}\u{9b} \
é 日本 𝄞 🦀 \u{2028}\u{2029} \u{feff}\u{fffe}\u{ffff}\u{10ffff}\nsecond ''line''\n";

/// A 1 MB line.
fn long_line() -> String {
    "0123456789abcdef".repeat(1 << 16)
}

/// `s` as a TOML basic string: JSON string syntax, with DEL (which JSON
/// leaves raw and TOML does not allow raw) escaped.
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap().replace('\u{7f}', "\\u007f")
}

/// Control characters a terminal would obey, other than line feed and tab.
fn raw_control(text: &str) -> Option<char> {
    text.chars().find(|&c| c.is_control() && c != '\n' && c != '\t')
}

// ---------------------------------------------------------------------------
// What validation rejects, and how it says so.

/// Loads `text` as `<dir>/<name>.toml` and returns its error at `key`,
/// checking that every error names the file and says how to fix it in a
/// readable message, and that the one at `key` shows it.
fn rejected(name: &str, text: impl AsRef<[u8]>, key: Option<&str>) -> spec::SpecError {
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), name, text);
    let errors = match spec::load(&path) {
        Ok(lab) => panic!("{name} validates: {:?}", lab.description.chars().take(80).collect::<String>()),
        Err(errors) => errors,
    };
    for e in errors.iter() {
        let shown = e.to_string();
        assert_eq!(e.file, path, "{shown}");
        assert!(shown.starts_with(&format!("invalid lab spec `{}", path.display())), "{shown}");
        assert!(e.help.as_deref().is_some_and(|h| !h.is_empty()), "no fix: {shown}");
        assert!(
            shown.len() < 600,
            "an error of {} bytes: {}…",
            shown.len(),
            shown.chars().take(600).collect::<String>()
        );
        assert_eq!(raw_control(&shown), None, "a raw control character in the error: {shown:?}");
    }
    let shown = errors.to_string();
    let e = errors
        .errors
        .into_iter()
        .find(|e| e.key.as_deref() == key)
        .unwrap_or_else(|| panic!("no error at {key:?}: {shown}"));
    if let Some(key) = key {
        assert!(e.to_string().contains(&format!(": `{key}`: ")), "{shown}");
    }
    e
}

const HEAD: &str = "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n";

fn with_head(rest: &str) -> String {
    format!("{HEAD}{rest}")
}

#[test]
fn nul_is_rejected_wherever_spec_text_goes() {
    common::test_packages();
    for (key, spec) in [
        ("description", "description = \"a\\u0000b\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n[[probe]]\nkind = \"exec\"\n".to_owned()),
        ("nix.extra-sandbox-paths[1]", with_head("[nix]\nextra-sandbox-paths = [\"/ok\", \"/a\\u0000b\"]\n[[probe]]\nkind = \"build\"\n")),
        ("probe[0].run", with_head("[[probe]]\nkind = \"command\"\nrun = \"printf x\\u0000y\"\n")),
        ("probe[1].expect-output", with_head("[[probe]]\nkind = \"exec\"\nexpect-output = '''\n\"\"\"'''\n[[probe]]\nkind = \"exec\"\nexpect-output = \"\\u0000\"\n")),
    ] {
        let e = rejected("nul", &spec, Some(key));
        assert!(e.message.contains("contains a NUL byte"), "{e}");
        assert_eq!(e.help.as_deref(), Some("remove the \\u0000 escape"), "{e}");
    }
    // A raw NUL byte is not TOML at all: the error says where it is.
    let e = rejected("raw-nul", "description = \"a \0 b\"\n", None);
    assert!(e.message.starts_with("TOML syntax error"), "{e}");
    assert_eq!(e.position, Some(spec::Position { line: 1, column: 18 }), "{e}");
}

#[test]
fn bytes_that_are_not_utf8_are_rejected_with_their_offset() {
    common::test_packages();
    let text = b"description = \"caf\xe9\"\nhost = \"non-nixos\"\n";
    let e = rejected("latin1", text, None);
    assert_eq!(e.message, "the file is not UTF-8 text (invalid byte at offset 18)");
    assert_eq!(e.help.as_deref(), Some("a lab spec is a TOML text file; save it as UTF-8"));
    // The same for a byte in the middle of a multi-line string.
    let e = rejected("mid", b"description = \"\"\"\nok\n\xff\xfe\"\"\"\n", None);
    assert!(e.message.contains("offset 21"), "{e}");
}

#[test]
fn sandbox_paths_nix_conf_cannot_hold_are_rejected() {
    common::test_packages();
    for (path, why) in [
        ("/usr/bin/qemu aarch64", "contains white space"),
        ("/a\\nb", "contains white space"),
        ("/a\\u00a0b", "contains white space"),
        ("/a\\u2028b", "contains white space"),
        ("usr/bin/qemu-aarch64-static", "is not an absolute path"),
        ("/inside=outside", "is not an absolute path"),
    ] {
        let e = rejected(
            "path",
            with_head(&format!("[nix]\nextra-sandbox-paths = [\"{path}\"]\n[[probe]]\nkind = \"build\"\n")),
            Some("nix.extra-sandbox-paths[0]"),
        );
        assert!(e.message.contains(why), "{path}: {e}");
    }
    // A 1 MB path is longer than any Linux opens; a 1 MB path with a space is
    // refused for the space, and either error quotes only its start.
    let long = format!("/{}", long_line());
    let e = rejected(
        "long-path",
        with_head(&format!("[nix]\nextra-sandbox-paths = [\"{long}\"]\n[[probe]]\nkind = \"build\"\n")),
        Some("nix.extra-sandbox-paths[0]"),
    );
    assert!(e.message.contains("is longer than any path Linux opens (4095 bytes)"), "{e}");
    assert!(e.message.contains(&format!("… ({} bytes)", long.len())), "{e}");
    let e = rejected(
        "long-space",
        with_head(&format!("[nix]\nextra-sandbox-paths = [\"{long} x\"]\n[[probe]]\nkind = \"build\"\n")),
        Some("nix.extra-sandbox-paths[0]"),
    );
    assert!(e.message.contains("contains white space"), "{e}");
    // A path just under PATH_MAX is fine.
    let dir = tempfile::tempdir().unwrap();
    let ok = format!("/{}", "p".repeat(4094));
    let lab = spec::load(&write_spec(
        dir.path(),
        "ok",
        with_head(&format!("[nix]\nextra-sandbox-paths = [\"{ok}\"]\n[[probe]]\nkind = \"build\"\n")),
    ))
    .unwrap();
    assert_eq!(lab.nix.extra_sandbox_paths, [ok]);
}

#[test]
fn a_command_too_long_for_one_shell_argument_is_rejected() {
    common::test_packages();
    // Linux passes at most 128 KiB in one argument (MAX_ARG_STRLEN): a longer
    // `run` could never reach `/bin/sh -c` ("Argument list too long").
    let run = format!("true # {}", long_line());
    let e = rejected(
        "long-run",
        with_head(&format!("[[probe]]\nkind = \"command\"\nrun = \"{run}\"\n")),
        Some("probe[0].run"),
    );
    assert!(e.message.contains(&format!("is {} bytes long", run.len())) && e.message.contains("128 KiB"), "{e}");
    assert!(e.help.as_deref().unwrap().contains(&format!("at most {} bytes", spec::MAX_RUN_BYTES)), "{e}");

    // At the limit, the command runs: the backend's argument fits.
    let dir = tempfile::tempdir().unwrap();
    let run = format!("printf %s ok #{}", "x".repeat(spec::MAX_RUN_BYTES - 14));
    assert_eq!(run.len(), spec::MAX_RUN_BYTES);
    let path = write_spec(
        dir.path(),
        "at-limit",
        with_head(&format!("[[probe]]\nkind = \"command\"\nrun = \"{run}\"\nqemu-cpu = \"{}\"\n", "c".repeat(64))),
    );
    let lab = spec::load(&path).unwrap();
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    let out = Command::new("/bin/sh").arg("-c").arg(&plan.probes[0].command).output().unwrap();
    assert_success("the longest command", &out);
    assert_eq!(out.stdout, b"ok");
    let e = rejected(
        "long-cpu",
        with_head(&format!("[[probe]]\nkind = \"command\"\nrun = \"true\"\nqemu-cpu = \"{}\"\n", "c".repeat(65))),
        Some("probe[0].qemu-cpu"),
    );
    assert!(e.message.contains("is not a qemu CPU model name"), "{e}");
}

#[test]
fn errors_quote_hostile_values_escaped_and_short() {
    common::test_packages();
    let e = rejected(
        "host",
        format!("description = \"d\"\nhost = {}\n", toml_str(&format!("{HOSTILE}{}", long_line()))),
        Some("host"),
    );
    assert!(e.message.starts_with(r#"`${builtins.abort \"x\"} \'\'${y}"#), "{e}");
    let e = rejected(
        "system",
        with_head(&format!("[[probe]]\nkind = \"exec\"\nsystems = [{}]\n", toml_str("\u{1b}[2Jaarch64-darwin"))),
        Some("probe[0].systems[0]"),
    );
    assert!(e.message.contains("`\\u{1b}[2Jaarch64-darwin` cannot be emulated"), "{e}");
    // An unknown key is named escaped too: a quoted TOML key can hold anything.
    let key = format!("\u{1b}]0;pwned\u{7}{}", long_line());
    let e = rejected(
        "key",
        format!("{} = 1\n", toml_str(&key)),
        Some(&format!("\\u{{1b}}]0;pwned\\u{{7}}{}… ({} bytes)", &long_line()[..50], key.len())),
    );
    assert!(e.help.as_deref().unwrap().contains("valid keys here are"), "{e}");
}

// ---------------------------------------------------------------------------
// Data in the rendered Nix and Python, and in the plan's shell commands.

/// A lab with hostile text in every field that takes text, and a 1 MB line
/// in its description and in a probe's expected output.
fn hostile_lab(dir: &Path) -> Lab {
    let paths = [
        "/odd/${x}/''/it's\"q\\/`id`/$(id)/%s/日本/𝄞/\u{1b}[31m/\u{7f}/\u{feff}\u{fffe}",
        "/it's/$out/\\n/''${y}''/\"\"\"/|a<b>&c",
        "/inside/${x}=/outside/''?",
    ];
    let spec = format!(
        r#"description = {desc}
host = "non-nixos"
systems = ["aarch64-linux", "riscv64-linux"]

[binfmt]
interpreter = "fhs"
flags = "POF"

[nix]
extra-sandbox-paths = [{paths}]

[[probe]]
kind = "nix-config"
systems = ["aarch64-linux"]

[[probe]]
kind = "command"
systems = ["aarch64-linux"]
run = {run}
expect = "fail"
expect-output = {want}
qemu-cpu = "cortex-a57,pmu=off"

[[probe]]
kind = "exec"
systems = ["riscv64-linux"]
expect = "fail"
expect-output = {long}
"#,
        desc = toml_str(&format!("{HOSTILE}{}", long_line())),
        paths = paths.iter().map(|p| toml_str(p)).collect::<Vec<_>>().join(", "),
        run = toml_str(&format!(
            "printf '%s' {} \"$CROSSLAB_SYSTEM\" \"$QEMU_CPU\"; exit 3\n# {HOSTILE}",
            quote::sh(HOSTILE)
        )),
        want = toml_str(HOSTILE),
        long = toml_str(&format!("{HOSTILE}{}", long_line())),
    );
    let lab = spec::load(&write_spec(dir, "hostile", spec)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lab.description, format!("{HOSTILE}{}", long_line()));
    assert_eq!(lab.nix.extra_sandbox_paths, paths);
    lab
}

/// Evaluates `expr` with nix-instantiate, as JSON.
fn nix_eval(expr: &str) -> Json {
    let out = Command::new("nix-instantiate")
        .args(NO_STORE)
        .args(["--eval", "--strict", "--json", "--expr", expr])
        .output()
        .unwrap();
    assert_success("nix-instantiate --eval", &out);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn hostile_text_means_itself_in_the_rendered_nix_and_python() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let lab = hostile_lab(dir.path());
    let out = dir.path().join("out");
    let labs = [lab];
    let lab = &labs[0];
    for file in
        (Render { root: &xtask::project_root(), labs: &labs, with_specs: false, with_modules: true }).files().unwrap()
    {
        let path = out.join(&file.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, file.text).unwrap();
    }
    let parse = Command::new("nix-instantiate")
        .args(NO_STORE)
        .arg("--parse")
        .arg(out.join("flake.nix"))
        .arg(out.join("checks/hostile.nix"))
        .output()
        .unwrap();
    assert_success("nix-instantiate --parse", &parse);

    // Nix: the node's settings and the testScript, read back.
    let node = nix_eval(&format!(
        r#"let
  test = import {} {{ pkgs = {{ testers.runNixOSTest = test: test; }}; }};
  node = test.nodes.machine {{ pkgs = {{ }}; }};
in {{
  description = node.crosslab.description;
  paths = node.nix.settings.extra-sandbox-paths;
  script = test.testScript {{ nodes.machine.crosslab.payloadsDir = "/p'\"$x"; nodes.machine.crosslab.toolchainsDir = "/t"; }};
}}"#,
        out.join("checks/hostile.nix").display()
    ));
    assert!(node["description"] == lab.description.as_str(), "Nix's description differs from the spec's");
    assert_eq!(node["paths"], json!(lab.nix.extra_sandbox_paths));
    let script = node["script"].as_str().unwrap();

    // Python: the testScript, run by a stand-in driver, gives the VM exactly
    // the plan's commands and judges exactly the plan's expectations.
    let plan = Plan::new(lab, VM_HOST_ARCH);
    assert_eq!(plan.probes.len(), 3);
    let answers = |command_output: &str| {
        json!([[0, ""], [3, format!("{command_output}\naarch64-linux")], [1, format!("oops {HOSTILE}{}", long_line())]])
    };
    let replay = |answers: Json| {
        let script_file = dir.path().join("script.py");
        std::fs::write(&script_file, script).unwrap();
        let answers_file = dir.path().join("answers.json");
        std::fs::write(&answers_file, answers.to_string()).unwrap();
        Command::new(PYTHON).arg("-c").arg(FAKE_DRIVER).arg(&script_file).arg(&answers_file).output().unwrap()
    };
    let ran = replay(answers(HOSTILE));
    assert_success("the testScript under a stand-in driver", &ran);
    let ran: Json = serde_json::from_slice(&ran.stdout).unwrap();
    assert_eq!(
        ran["prelude"],
        json!({ "payloads_dir": "/p'\"$x", "tcg_slowdown": xtask::render::TCG_SLOWDOWN }),
        "the JSON prelude"
    );
    let executed = ran["executed"].as_array().unwrap();
    assert_eq!(executed.len(), plan.probes.len());
    for (argv, probe) in executed.iter().zip(&plan.probes) {
        let argv = argv.as_array().unwrap();
        assert_eq!(argv[1..3], [json!("/bin/sh"), json!("-c")]);
        let command = argv[3].as_str().unwrap();
        let same = command.chars().zip(probe.command.chars()).take_while(|(a, b)| a == b).count();
        assert!(
            command == probe.command,
            "{}: the VM runs another command, from {:?}",
            probe.id(),
            command.chars().skip(same).take(60).collect::<String>()
        );
        assert_eq!(argv[0], "CROSSLAB_PAYLOADS=/p'\"$x");
    }
    let succeeded = ran["succeeded"].as_array().unwrap();
    for reg in &plan.registrations {
        assert!(succeeded.contains(&json!(reg.command())), "{} is not registered as planned", reg.name);
    }
    // Output without the hostile text fails the test, naming it.
    let ran = replay(answers("something else"));
    assert!(!ran.status.success());
    let stderr = String::from_utf8_lossy(&ran.stderr);
    // (Every probe runs; the test fails at the end, naming each surprise.)
    assert!(stderr.contains("AssertionError: 1 probe(s) not as expected"), "{stderr}");
    assert!(stderr.contains(": expected the output to contain '${builtins.abort"), "{stderr}");
}

/// Runs a testScript (argv[1]) with stand-ins for the driver: `execute`
/// answers from the JSON list in argv[2] in turn; prints the JSON prelude's
/// value and every command given, split as the shell would.
const FAKE_DRIVER: &str = r#"
import contextlib, json, shlex, sys

script = open(sys.argv[1], encoding="utf-8").read()
answers = json.load(open(sys.argv[2], encoding="utf-8"))
executed, succeeded, logged = [], [], []

class FakeMachine:
    def execute(self, command, check_return=True, check_output=True, timeout=900):
        executed.append(shlex.split(command))
        status, output = answers[len(executed) - 1]
        return status, output

    def succeed(self, *cmds, timeout=None):
        succeeded.extend(cmds)
        return ""

    def wait_for_unit(self, unit, user=None, timeout=900):
        pass

    def log(self, msg):
        logged.append(msg)

@contextlib.contextmanager
def subtest(name):
    yield

scope = {"machine": FakeMachine(), "start_all": lambda: None, "subtest": subtest}
exec(compile(script, "testScript", "exec"), scope)
json.dump({"prelude": scope["crosslab_node"], "executed": executed, "succeeded": succeeded}, sys.stdout)
"#;

#[test]
fn shell_words_arrive_byte_for_byte() {
    common::test_packages();
    let mut samples: Vec<String> = HOSTILE.split(' ').map(str::to_owned).collect();
    samples.extend([
        HOSTILE.to_owned(),
        String::new(),
        "-n".into(),
        "--".into(),
        "a=b".into(),
        "'".into(),
        "''".into(),
        "\\".into(),
    ]);
    samples.push((1..=0x7f_u8).map(char::from).collect());
    samples.push((0x80..=0x10ffff).step_by(0x1ff).filter_map(char::from_u32).collect());
    // One script (a 1 MB word does not fit in one argument of sh -c).
    samples.push(format!("{HOSTILE}{}", long_line()));
    let dir = tempfile::tempdir().unwrap();
    let mut script = String::new();
    for (i, s) in samples.iter().enumerate() {
        script.push_str(&format!("printf %s {} > {}/{i}\n", quote::sh(s), dir.path().display()));
    }
    let file = dir.path().join("words.sh");
    std::fs::write(&file, &script).unwrap();
    assert_success("the quoted words", &Command::new("/bin/sh").arg(&file).output().unwrap());
    for (i, s) in samples.iter().enumerate() {
        assert!(
            std::fs::read(dir.path().join(i.to_string())).unwrap() == s.as_bytes(),
            "sample {i} changed in the shell: {s:?}"
        );
    }
}

#[test]
fn the_plans_commands_carry_hostile_text_to_the_shell() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let lab = hostile_lab(dir.path());
    let plan = Plan::new(&lab, std::env::consts::ARCH);

    // The command probe as the backends run it: `/bin/sh -c <command>`.
    let command = plan.probes.iter().find(|p| p.kind == ProbeKind::Command).unwrap();
    let out = Command::new("/bin/sh").arg("-c").arg(&command.command).env_clear().output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        out.stdout == format!("{HOSTILE}aarch64-linuxcortex-a57,pmu=off").as_bytes(),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The nix-config probe finds each hostile sandbox path in what Nix says.
    let nix_config = plan.probes.iter().find(|p| p.kind == ProbeKind::NixConfig).unwrap();
    let conf = format!(
        "sandbox = true\nextra-platforms = {}\nsandbox-paths = {}\n",
        nix_config.system.double,
        plan.nix_conf.extra_sandbox_paths.join(" ")
    );
    let out = fake_nix(dir.path(), &conf, &nix_config.command);
    assert_success("the nix-config probe", &out);
    // One path missing (the last, which has no backslash; see below) fails it.
    let last = plan.nix_conf.extra_sandbox_paths.last().unwrap();
    let out = fake_nix(dir.path(), &conf.replace(&format!(" {last}\n"), "\n"), &nix_config.command);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.ends_with(format!("missing from sandbox-paths: {last}\n").as_bytes()),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Runs `command` under /bin/sh with a stand-in `nix` that prints `conf`.
fn fake_nix(dir: &Path, conf: &str, command: &str) -> Output {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("nix"), "#!/bin/sh\ncat \"$FAKE_NIX_CONFIG\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("nix"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("conf"), conf).unwrap();
    Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("FAKE_NIX_CONFIG", dir.join("conf"))
        .output()
        .unwrap()
}

#[test]
fn the_nix_config_probe_names_a_missing_path_with_backslashes_as_written() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(
        dir.path(),
        "backslash",
        with_head("[nix]\nextra-sandbox-paths = ['/a\\nb\\c']\n[[probe]]\nkind = \"nix-config\"\n"),
    );
    let lab = spec::load(&path).unwrap();
    let plan = Plan::new(&lab, VM_HOST_ARCH);
    let out = fake_nix(dir.path(), "sandbox = true\nextra-platforms = aarch64-linux\n", &plan.probes[0].command);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().last(), Some("missing from sandbox-paths: /a\\nb\\c"));
}

// ---------------------------------------------------------------------------
// A run's outputs: JSON, JUnit XML, the Markdown matrix, the terminal report.

/// What a probe prints, as printf octal escapes: terminal escape sequences,
/// a carriage return, NUL, bytes that are not UTF-8, XML and Markdown markup.
const PRINTED: &str =
    r#"clear\033[2J title\033]0;pwned\007 cr\rover nul\000byte bad\377\376utf8 <tag> & "q" ]]> a|b \\| del\177"#;

/// The lab of the real run: a probe printing [`PRINTED`] that fails
/// unexpectedly, one printing a 1 MB line, and one failing as expected with
/// an expected output of `|`, a line break and an escape sequence.
fn run_spec(dir: &Path) -> PathBuf {
    write_spec(
        dir,
        "printed",
        format!(
            r#"description = {desc}
host = "non-nixos"
systems = ["aarch64-linux"]
[binfmt]
interpreter = "none"
[[probe]]
kind = "command"
run = {printed}
[[probe]]
kind = "command"
run = "head -c 1048576 /dev/zero | tr '\\0' x; echo; echo end"
expect-output = "xxxxxxxx"
[[probe]]
kind = "command"
run = "printf 'a|b\\nc \\033[31m<br>\\n'; exit 1"
expect = "fail"
expect-output = "a|b\nc \u001b[31m<br>"
"#,
            desc = toml_str(HOSTILE),
            printed = toml_str(&format!("printf '{PRINTED}\\n'; exit 3")),
        ),
    )
}

/// What process.rs makes of [`PRINTED`]: NUL dropped, invalid UTF-8 as U+FFFD.
fn printed_decoded() -> String {
    let bytes = Command::new("/bin/sh").arg("-c").arg(format!("printf '{PRINTED}\\n'")).output().unwrap().stdout;
    assert!(bytes.contains(&0) && bytes.contains(&0xff), "printf printed the hostile bytes");
    String::from_utf8_lossy(&bytes.into_iter().filter(|&b| b != 0).collect::<Vec<_>>()).into_owned()
}

fn xtask(args: &[&str], path: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).arg(path).env("CI", "1").output().unwrap();
    assert!(out.status.code() == Some(1), "xtask {args:?}: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn a_real_run_carries_hostile_output_into_json_and_junit() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let spec_path = run_spec(dir.path());
    let junit_path = dir.path().join("junit.xml");
    let out = xtask(&["lab", "run", "--json", "--junit", junit_path.to_str().unwrap()], &spec_path);

    // JSON: one line per lab; the output is what the probe printed, decoded.
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let json: Json = serde_json::from_str(&stdout).unwrap();
    let probes = json["probes"].as_array().unwrap();
    assert_eq!(probes[0]["output"], printed_decoded());
    assert_eq!((probes[0]["as_expected"].clone(), probes[0]["exit_code"].clone()), (json!(false), json!(3)));
    let long = probes[1]["output"].as_str().unwrap();
    assert!(
        long.len() <= 4000 && long.ends_with("xxxx\nend\n"),
        "the JSON keeps the end of a 1 MB line: {}",
        long.len()
    );
    assert_eq!(probes[2]["as_expected"], true);

    // JUnit: well-formed; text XML cannot hold is shown as escapes, the rest as is.
    let xml = std::fs::read_to_string(&junit_path).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}"));
    let property = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name("property") && n.attribute("name") == Some(name))
            .and_then(|n| n.attribute("value"))
    };
    let description = property("description").unwrap();
    assert!(description.starts_with("${builtins.abort \"x\"} ''${y} '' ''\\ \"\"\" '''"), "{description}");
    assert!(
        description.contains("\t\r\n\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 \\x08\\x0b\\x0c\u{7f}\u{85}\u{9b}"),
        "{description:?}"
    );
    assert!(description.contains("\u{feff}\\u{fffe}\\u{ffff}\u{10ffff}\nsecond ''line''"), "{description:?}");
    let failures: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("failure")).collect();
    assert_eq!(failures.len(), 1);
    let case = failures[0].parent().unwrap();
    let body = case.children().find(|n| n.has_tag_name("system-out")).and_then(|n| n.text()).unwrap();
    assert!(body.contains("clear\\x1b[2J title\\x1b]0;pwned\\x07 cr\rover nulbyte bad\u{fffd}\u{fffd}utf8 <tag> & \"q\" ]]> a|b \\| del\u{7f}"), "{body:?}");
    let command = case
        .descendants()
        .find(|n| n.has_tag_name("property") && n.attribute("name") == Some("command"))
        .and_then(|n| n.attribute("value"))
        .unwrap();
    assert!(
        command.contains(&format!("export CROSSLAB_SYSTEM=aarch64-linux\nprintf '{PRINTED}\\n'; exit 3")),
        "{command:?}"
    );
    assert_eq!(
        raw_control(&xml.replace(['\r', '\u{7f}', '\u{85}', '\u{9b}'], "")),
        None,
        "XML 1.0 holds no other controls"
    );
}

#[test]
fn a_real_run_shows_hostile_output_escaped_in_the_terminal_and_keeps_the_matrix_whole() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let spec_path = run_spec(dir.path());
    let out = xtask(&["lab", "run"], &spec_path);
    let terminal = String::from_utf8(out.stdout).unwrap();
    assert_eq!(raw_control(&terminal), None, "{terminal:?}");
    assert!(
        terminal.contains("        | clear\\x1b[2J title\\x1b]0;pwned\\x07 cr\\x0dover nulbyte bad\u{fffd}\u{fffd}utf8 <tag> & \"q\" ]]> a|b \\| del\\x7f\n"),
        "{terminal}"
    );
    assert!(terminal.contains("1 of 3 probes NOT as expected"), "{terminal}");

    let out = xtask(&["lab", "matrix"], &spec_path);
    let markdown = String::from_utf8(out.stdout).unwrap();
    let rows = markdown_rows(&markdown);
    assert_eq!(rows.len(), 2, "{markdown}");
    assert!(rows.iter().all(|r| r.len() == 5), "{rows:?}\n{markdown}");
    assert_eq!(rows[1][..4], ["printed", "non-nixos", "aarch64-linux", "❌"], "{markdown}");
}

/// The cells of each row of the only table in `markdown` as GitHub reads it,
/// also checking that no `|` starts a cell beyond the header's (which GitHub
/// would drop silently) and that nothing follows the table.
fn markdown_rows(markdown: &str) -> Vec<Vec<String>> {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let delimiters = |line: &str| line.match_indices('|').filter(|(i, _)| !line[..*i].ends_with('\\')).count();
    for line in markdown.lines() {
        assert_eq!(delimiters(line), 6, "a row that is not five cells: {line}");
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    let (mut tables, mut in_cell) = (0, false);
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Table(_)) => tables += 1,
            Event::Start(Tag::TableHead | Tag::TableRow) => rows.push(Vec::new()),
            Event::Start(Tag::TableCell) => {
                in_cell = true;
                rows.last_mut().unwrap().push(String::new());
            }
            Event::End(TagEnd::TableCell) => in_cell = false,
            Event::Text(t) | Event::Code(t) | Event::InlineHtml(t) if in_cell => {
                rows.last_mut().unwrap().last_mut().unwrap().push_str(&t)
            }
            Event::Start(Tag::Paragraph) => panic!("text outside the table:\n{markdown}"),
            _ => {}
        }
    }
    assert_eq!(tables, 1, "{markdown}");
    rows
}

/// A report of `plan` with made-up outcomes: each probe exits with status 3
/// and prints `output` (what no real run can print included: NUL, U+FFFE),
/// but for the exec probe, which fails as expected, printing its expectation.
fn made_up_report(plan: &Plan, output: &str) -> LabReport {
    let verdicts = plan
        .probes
        .iter()
        .map(|p| {
            let (exit_code, output) = match p.kind {
                ProbeKind::Exec => (1, format!("{}\n", p.expect.contains[0])),
                _ => (3, output.to_owned()),
            };
            xtask::outcome::judge(
                p,
                Execution {
                    exit_code: Some(exit_code),
                    signal: None,
                    timed_out: false,
                    duration: Duration::from_millis(7),
                    output,
                },
            )
        })
        .collect();
    LabReport { lab: plan.lab.name.clone(), backend: "host", verdicts, versions: None }
}

#[test]
fn made_up_reports_with_any_text_stay_well_formed() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let lab = hostile_lab(dir.path());
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    let output = format!("{HOSTILE}\0nul \u{fffe}\n{}\n\u{1b}[2Jlast | line\r\n", long_line());
    let report = made_up_report(&plan, &output);

    let json: Json = serde_json::from_str(&serde_json::to_string(&report.to_json_diagnosed(&plan)).unwrap()).unwrap();
    for (p, v) in json["probes"].as_array().unwrap().iter().zip(&report.verdicts) {
        assert_eq!(p["output"], xtask::text::tail(&v.execution.output, 4000));
        assert_eq!(p["id"], v.probe.id());
    }

    let xml = junit::render(&[(&plan, &report)]);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}"));
    let failed = doc.descendants().find(|n| n.has_tag_name("failure")).unwrap().parent().unwrap();
    let body = failed.children().find(|n| n.has_tag_name("system-out")).unwrap().text().unwrap();
    assert!(body.contains("\\x00nul \\u{fffe}\n"), "NUL and U+FFFE are shown as escapes");
    assert!(body.ends_with("\\x1b[2Jlast | line"), "{:?}", &body[body.len() - 40..]);

    let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
    let mut terminal = Terminal::new(buffer.clone(), false);
    terminal.lab_started(&plan);
    for v in &report.verdicts {
        terminal.verdict(&plan, v);
    }
    terminal.lab_finished(&plan, &report);
    drop(terminal);
    let shown = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    assert_eq!(raw_control(&shown), None);
    assert!(shown.contains("        | \\x1b[2Jlast | line\n"), "the last line, its CR LF a line end");
    assert!(
        shown.contains("sandbox-paths ∋ /odd/${x}/''/it's\"q\\/`id`/$(id)/%s/日本/𝄞/\\x1b[31m/\\x7f/\u{feff}\u{fffe}"),
        "the nix-config probe's title"
    );

    // The matrix: riscv64's row quotes the expected output, line breaks,
    // `|`, `<br>` and all, in its one note cell.
    let markdown = xtask::matrix::markdown(&xtask::matrix::rows_of(&plan, &report));
    let rows = markdown_rows(&markdown);
    assert_eq!(rows.len(), 1 + lab.systems.len());
    assert!(rows.iter().all(|r| r.len() == 5), "{rows:?}");
    assert_eq!(rows[2][..4], ["hostile", "non-nixos", "riscv64-linux", "✅ (fails as reported)"]);
    assert!(rows[2][4].starts_with("exec fails as reported: \"${builtins.abort \"x\"}"), "{}", &rows[2][4][..80]);
    assert!(rows[2][4].contains("<br>second ''line''<br>0123456789abcdef"), "a line break is a <br> in the cell");
    assert!(rows[2][4].contains("<b>&amp; ]]> -->"), "markup and entities show as written");
}

#[test]
fn lab_show_and_list_print_spec_text_without_obeying_it() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("esc.toml");
    std::fs::write(
        &spec,
        "description = \"clears \\u001b[2J the screen\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n[[probe]]\nkind = \"command\"\nrun = \"echo \\u001b]0;title\\u0007 \\r done\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).args(["lab", "show"]).arg(&spec).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
    assert!(text.contains("clears \\x1b[2J the screen"), "{text}");
    assert!(text.contains("$ echo \\x1b]0;title\\x07 \\x0d done"), "{text}");
}
