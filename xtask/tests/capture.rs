//! `lab capture` for real: in a private user and mount namespace (its own
//! binfmt_misc instance, kernel ≥ 6.7) a machine is set up — aarch64
//! registered like Debian's qemu-user-static, with or without F, and a
//! nix.conf (NIX_CONF_DIR) with the sandbox on and extra-platforms naming
//! aarch64 and armv7l, which nothing registers. The capture is taken there;
//! then, in the same namespace under a private root with an empty /nix, a
//! direct sandboxed `nix-build` for each system gives what that machine does.
//! `lab run` of the captured spec must agree, system by system. Nothing is
//! registered globally and nothing under /etc or /nix is written.
//! Needs root, Nix and qemu-user-static (the README's test command installs them).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use xtask::run::idmap::IdMap;

use xtask::spec;

mod common;
use common::assert_success;

const AARCH64: &str = r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00";
const AARCH64_MASK: &str = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\x00\xff\xfe\xff\xff\xff";

/// Moves the namespace into a new root (a tmpfs, on a directory of the test's
/// own, with the host's top-level
/// directories bound in) whose /nix is empty, so a sandboxed build has a
/// store of its own at the standard place.
const PRIVATE_ROOT: &str = r#"
r="$HOME/root"; mkdir -p "$r"
mount -t tmpfs -o mode=0755 crosslab-test-root "$r"
for e in /*; do
  n=${e#/}
  [ "$n" = nix ] && continue
  if [ -L "$e" ]; then cp -P "$e" "$r/$n"
  elif [ -d "$e" ]; then mkdir "$r/$n"; mount --rbind "$e" "$r/$n"
  fi
done
mkdir "$r/nix" "$r/.old"
cd "$r"
pivot_root . .old
umount -l /.old
rmdir /.old
cd /
"#;

/// The direct build: the derivation a `build` probe builds, by hand.
const BUILD: &str = r#"
for system in aarch64-linux armv7l-linux; do
  p=$(readlink -f "$PAYLOADS/$system")
  if out=$(nix-build --no-out-link --expr "derivation { name = \"direct\"; system = \"$system\"; builder = (builtins.path { path = $p; name = \"p\"; }) + \"/sh\"; args = [ \"-c\" \"echo > \$out\" ]; }" 2>&1); then
    echo "direct $system pass"
  else
    echo "direct $system fail: $(printf '%s' "$out" | tr -d '\000' | grep -o 'No such file or directory\|Exec format error' | head -n 1)"
  fi
done
"#;

/// Sets up the machine in a private namespace (nix.conf as written, aarch64
/// registered with `flags`), captures it to `spec`, and returns each
/// system's direct build outcome (`pass` or `fail: …`).
fn capture_and_build(flags: &str, dir: &Path, spec: &Path) -> Vec<(String, String)> {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("nix.conf"),
        "sandbox = true\nsandbox-fallback = false\nextra-platforms = aarch64-linux armv7l-linux\nsubstituters =\nbuild-users-group =\n",
    )
    .unwrap();
    let aarch64 = format!(":qemu-aarch64:M::{AARCH64}:{AARCH64_MASK}:/usr/bin/qemu-aarch64-static:{flags}");
    on_machine(dir, &[aarch64], Some(spec))
}

/// The machine of `dir` (its conf/nix.conf) with `registrations`: captured
/// to `capture_to` if given, then each system's direct build outcome.
fn on_machine(dir: &Path, registrations: &[String], capture_to: Option<&Path>) -> Vec<(String, String)> {
    let conf = dir.join("conf");
    std::fs::write(dir.join("user.conf"), "").unwrap();
    let payloads = xtask::provision::payload::ensure(
        &xshell::Shell::new().unwrap(),
        &[
            xtask::systems::NixSystem::find("aarch64-linux").unwrap(),
            xtask::systems::NixSystem::find("armv7l-linux").unwrap(),
        ],
    )
    .unwrap();
    let register: String = registrations
        .iter()
        .map(|line| format!("printf '%s' '{line}' > /proc/sys/fs/binfmt_misc/register\n"))
        .collect();
    let capture = if capture_to.is_some() { "\"$XTASK\" lab capture --out \"$SPEC\"\n" } else { "" };
    let script = format!(
        "set -eu\nmount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc\n{register}{capture}{PRIVATE_ROOT}\nset +e\n{BUILD}"
    );
    // A full identity map written from outside (as `lab run` does): with
    // only --map-root-user, setgroups is denied and Nix's sandbox cannot start.
    let mut child = Command::new("unshare")
        .args(["--user", "--", "/bin/sh", "-c", "read -r _ || exit 1; exec unshare --mount -- /bin/sh -c \"$0\""])
        .arg(&script)
        .env("XTASK", env!("CARGO_BIN_EXE_xtask"))
        .env("SPEC", capture_to.unwrap_or(Path::new("/nonexistent")))
        .env("PAYLOADS", &payloads)
        .env("NIX_CONF_DIR", &conf)
        .env("NIX_USER_CONF_FILES", dir.join("user.conf"))
        .env("NIX_REMOTE", "local")
        .env("HOME", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ours = std::fs::read_link("/proc/self/ns/user").unwrap();
    while std::fs::read_link(format!("/proc/{}/ns/user", child.id())).unwrap() == ours {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    IdMap::Identity.apply(child.id()).unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_success("the private machine", &out);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("direct "))
        .filter_map(|l| l.split_once(' '))
        .map(|(s, o)| (s.to_owned(), o.to_owned()))
        .collect()
}

/// `lab run --json` of the captured spec: each build probe's outcome as the
/// direct build says it (`pass`, or `fail: ` and the error it shows).
fn lab_builds(spec: &Path) -> Vec<(String, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).args(["lab", "run", "--json"]).arg(spec).output().unwrap();
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "lab run could not run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut builds = Vec::new();
    for p in json["probes"].as_array().unwrap() {
        if p["kind"] != "build" {
            continue;
        }
        let output = p["output"].as_str().unwrap();
        let outcome = if p["outcome"] == "pass" {
            "pass".to_owned()
        } else {
            let why = ["No such file or directory", "Exec format error"].into_iter().find(|w| output.contains(w));
            format!("fail: {}", why.unwrap_or(""))
        };
        builds.push((p["system"].as_str().unwrap().to_owned(), outcome));
    }
    builds
}

fn check(flags: &str, expected_aarch64: &str) {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("captured.toml");
    let direct = capture_and_build(flags, dir.path(), &spec_path);
    let lab =
        spec::load(&spec_path).unwrap_or_else(|e| panic!("{e}\n{}", std::fs::read_to_string(&spec_path).unwrap()));
    let text = std::fs::read_to_string(&spec_path).unwrap();

    // The spec says what the machine is.
    let systems: Vec<&str> = lab.systems.iter().map(|s| s.double).collect();
    assert_eq!(systems, ["aarch64-linux", "armv7l-linux"], "{text}");
    assert_eq!(lab.binfmt.flags, flags, "{text}");
    assert!(lab.nix.sandbox, "{text}");
    assert_eq!(lab.nix.extra_platforms, ["aarch64-linux", "armv7l-linux"], "{text}");

    // And running it does what the machine does.
    let direct_of = |system: &str| direct.iter().find(|(s, _)| s == system).map(|(_, o)| o.clone());
    assert_eq!(direct_of("aarch64-linux").as_deref(), Some(expected_aarch64));
    // armv7l is only in extra-platforms: nothing runs its binaries.
    assert_eq!(direct_of("armv7l-linux").as_deref(), Some("fail: Exec format error"));
    assert_eq!(lab_builds(&spec_path), direct, "the captured lab differs from the machine:\n{text}");
}

#[test]
fn a_captured_machine_without_f_fails_its_builds_as_the_machine_does() {
    common::test_packages();
    check("P", "fail: No such file or directory");
}

#[test]
fn a_captured_machine_with_f_builds_as_the_machine_does() {
    common::test_packages();
    check("PF", "pass");
}

/// issue 16: Debian's own `/usr/lib/binfmt.d/qemu-aarch64.conf` line, byte
/// for byte (its mask keeps byte 14, which nixpkgs' clears), is captured as
/// the tool that wrote it, and the captured lab builds as the machine does.
#[test]
fn debian_s_own_registration_is_captured_as_its_tool_and_builds_as_the_machine_does() {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("captured.toml");
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("nix.conf"),
        "sandbox = true\nsandbox-fallback = false\nextra-platforms = aarch64-linux armv7l-linux\nsubstituters =\nbuild-users-group =\n",
    )
    .unwrap();
    let file = std::fs::read_to_string("/usr/lib/binfmt.d/qemu-aarch64.conf")
        .expect("Debian's qemu-user-static (apt-get install qemu-user-static)");
    let line = file.trim_end_matches('\n');
    let direct = on_machine(dir.path(), &[line.to_owned()], Some(&spec_path));
    let text = std::fs::read_to_string(&spec_path).unwrap();
    let lab = spec::load(&spec_path).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(lab.binfmt.tool.map(|t| t.name), Some("debian-bookworm"), "{text}");
    let plan = xtask::plan::Plan::new(&lab, std::env::consts::ARCH);
    let aarch64 = plan.registrations.iter().find(|r| r.system.double == "aarch64-linux").unwrap();
    assert_eq!(aarch64.line(), line, "the lab registers the machine's own bytes");

    // With F the sandbox needs nothing of the emulator: the build passes.
    let direct_of = |system: &str| direct.iter().find(|(s, _)| s == system).map(|(_, o)| o.clone());
    assert_eq!(direct_of("aarch64-linux").as_deref(), Some("pass"));
    assert_eq!(direct_of("armv7l-linux").as_deref(), Some("fail: Exec format error"));
    assert_eq!(lab_builds(&spec_path), direct, "the captured lab differs from the machine:\n{text}");
}

#[test]
fn from_a_captured_machine_to_a_working_one_with_the_steps_lab_fix_prints() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("captured.toml");
    let direct = capture_and_build("P", dir.path(), &spec_path);
    assert!(direct.iter().all(|(_, o)| o.starts_with("fail")), "{direct:?}");

    let fixed = dir.path().join("fixed.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["lab", "fix"])
        .arg(&spec_path)
        .arg("--out")
        .arg(&fixed)
        .output()
        .unwrap();
    assert_success("lab fix on the captured spec", &out);
    let steps = String::from_utf8_lossy(&out.stdout).into_owned();

    // Do on the machine what lab fix says: its nix.conf lines, and register
    // armv7l as Debian's qemu-user-static would (the same flags as aarch64's).
    let mut conf = std::fs::read_to_string(dir.path().join("conf/nix.conf")).unwrap();
    for line in steps.lines().filter_map(|l| l.trim().strip_prefix("add to /etc/nix/nix.conf: `")) {
        conf.push_str(line.trim_end_matches('`'));
        conf.push('\n');
    }
    std::fs::write(dir.path().join("conf/nix.conf"), conf).unwrap();
    assert!(steps.contains("apt-get install qemu-user-static"), "armv7l needs an emulator registered:\n{steps}");
    let system = |s| xtask::systems::NixSystem::find(s).unwrap();
    let registration = |s: &'static xtask::systems::NixSystem| xtask::plan::Registration {
        name: format!("qemu-{}", s.qemu),
        system: s,
        offset: "",
        magic: s.magic,
        mask: s.mask,
        interpreter: s.fhs_interpreter(),
        flags: "P".into(),
        provide: None,
    };
    let lines = [registration(system("aarch64-linux")).line(), registration(system("armv7l-linux")).line()];
    let after = on_machine(dir.path(), &lines, None);
    assert!(after.iter().all(|(_, o)| o == "pass"), "the machine after lab fix's steps: {after:?}\n{steps}");
}
