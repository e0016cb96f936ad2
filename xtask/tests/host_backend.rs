//! The host backend for real: the reported reproductions give their verdicts,
//! expectations can fail, probes time out, and the host is never changed, not
//! even by a run that is killed mid-probe. Needs root, Nix and qemu-user-static
//! (the README's test command installs them).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use xtask::outcome::LabReport;
use xtask::plan::Plan;
use xtask::provision::payload;
use xtask::run::run_host;
use xtask::spec;

mod common;
use common::write_spec;

fn lab_path(name: &str) -> PathBuf {
    xtask::labs_dir(&xtask::project_root()).join(format!("{name}.toml"))
}

/// Runs the spec at `path` on the host backend.
fn run(path: &Path) -> LabReport {
    let lab = spec::load(path).unwrap_or_else(|e| panic!("{e}"));
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    let mut systems: Vec<_> = plan.probes.iter().map(|p| p.payload).collect();
    systems.dedup();
    let payloads = payload::ensure(&xshell::Shell::new().unwrap(), &systems).unwrap();
    run_host(&plan, &payloads, false, &mut |_| {}).unwrap_or_else(|e| panic!("{e:#}"))
}

fn run_lab(name: &str) -> LabReport {
    run(&lab_path(name))
}

fn verdict<'a>(report: &'a LabReport, kind: &str) -> &'a xtask::outcome::Verdict {
    report.verdicts.iter().find(|v| v.probe.kind.as_str() == kind).unwrap_or_else(|| panic!("no {kind} probe"))
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

#[test]
fn non_nixos_sandbox_issue_is_reproduced() {
    let report = run_lab("non-nixos-aarch64");
    assert_all_as_expected(&report);
    let build = verdict(&report, "build");
    assert!(!build.passed);
    assert!(build.execution.output.contains("No such file or directory"), "{}", build.execution.output);
    let exec = verdict(&report, "exec");
    assert!(exec.passed && exec.execution.output.lines().any(|l| l == "aarch64"), "{}", exec.execution.output);
}

#[test]
fn each_fix_makes_the_sandboxed_build_pass() {
    for lab in ["non-nixos-aarch64-fix-sandbox-path", "non-nixos-aarch64-fix-f", "non-nixos-aarch64-no-sandbox"] {
        let report = run_lab(lab);
        assert_all_as_expected(&report);
        let build = verdict(&report, "build");
        assert!(build.passed, "{lab}: {}", build.execution.output);
        // The derivation's builder wrote what `uname -m` said under emulation.
        assert!(build.execution.output.lines().any(|l| l == "aarch64"), "{lab}: {}", build.execution.output);
    }
}

#[test]
fn extra_platforms_without_a_registration_gives_exec_format_error() {
    let report = run_lab("extra-platforms-unregistered");
    assert_all_as_expected(&report);
    for kind in ["exec", "build"] {
        let v = verdict(&report, kind);
        assert!(!v.passed && v.execution.output.contains("Exec format error"), "{kind}: {}", v.execution.output);
    }
}

#[test]
fn multiarch_uname_matches_the_table_and_armv7_on_armv6_dies() {
    let report = run_lab("multiarch-uname");
    assert_all_as_expected(&report);
    let illegal = report
        .verdicts
        .iter()
        .find(|v| v.probe.payload.double == "armv7l-linux" && v.probe.system.double == "armv6l-linux")
        .unwrap();
    assert!(illegal.execution.output.contains("Illegal instruction"), "{}", illegal.execution.output);
}

#[test]
fn simulated_nixos_hosts_pass() {
    // nixos-vm-*: the dynamically linked emulator with P builds in the sandbox,
    // as on NixOS; the chroot labs: nixpkgs#160300 and its fix.
    for lab in [
        "nixos-vm-aarch64",
        "nixos-vm-riscv64",
        "nixos-static-emulators",
        "nixos-chroot-dynamic-emulator",
        "nixos-chroot-dynamic-emulator-fix-static",
    ] {
        assert_all_as_expected(&run_lab(lab));
    }
}

#[test]
fn a_nixos_host_that_emulates_nothing_adds_no_binfmt_sandbox_path() {
    // NixOS's binfmt module sets nix.settings only when emulatedSystems is
    // not empty: a lab of native systems must not ask the sandbox for a
    // /run/binfmt that nothing creates ("getting attributes of path").
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        "nixos-native-only",
        "description = \"native only\"\nhost = \"nixos\"\nsystems = [\"x86_64-linux\"]\n[binfmt]\ninterpreter = \"nixos\"\n\n[[probe]]\nkind = \"nix-config\"\n\n[[probe]]\nkind = \"build\"\n",
    );
    let report = run(&spec);
    assert_all_as_expected(&report);
    let config = verdict(&report, "nix-config");
    assert!(!config.execution.output.contains("/run/binfmt"), "{}", config.execution.output);
    assert!(verdict(&report, "build").passed);
}

#[test]
fn reported_issues_reproduced_with_command_probes() {
    // nixpkgs#119885: qemu called directly cannot exec a foreign child until binfmt_misc knows it.
    let report = run_lab("emulator-exec-foreign");
    assert_all_as_expected(&report);
    assert!(report.verdicts[0].execution.output.contains("Exec format error"));
    assert!(report.verdicts[1].passed && report.verdicts[1].execution.output.lines().any(|l| l == "aarch64"));
    // nixpkgs#110540: a `#!/usr/bin/env sh` wrapper breaks sandboxed builds; a sandboxed shell fixes them.
    let report = run_lab("wrapped-interpreter-env-shebang");
    assert_all_as_expected(&report);
    let builds: Vec<_> = report.verdicts.iter().filter(|v| v.probe.kind.as_str() == "build").collect();
    assert_eq!(builds.iter().map(|v| v.passed).collect::<Vec<_>>(), [false, true]);
    // nextest's double-spawn (exec of /proc/self/exe): fine under binfmt, in
    // and out of the sandbox; with qemu called directly the child is foreign.
    let report = run_lab("self-exec-under-emulation");
    assert_all_as_expected(&report);
    let outcomes: Vec<_> = report
        .verdicts
        .iter()
        .map(|v| (v.passed, v.execution.output.contains("double-spawn child: aarch64")))
        .collect();
    assert_eq!(outcomes, [(true, true), (true, true), (false, false)]);
    assert!(
        report.verdicts[2].execution.output.contains("Exec format error"),
        "{}",
        report.verdicts[2].execution.output
    );
    // Docker's binfmt installers: an interpreter only the container had
    // works with F after the container is gone, and not without.
    let report = run_lab("container-registered-emulator");
    assert_all_as_expected(&report);
    assert_eq!(report.verdicts.iter().map(|v| v.passed).collect::<Vec<_>>(), [true, true, false]);
    assert!(report.verdicts[0].execution.output.lines().any(|l| l == "aarch64"));
}

/// The verdict is not a formality: a spec that expects the reported bug to
/// pass is told it did not.
#[test]
fn an_unmet_expectation_is_reported_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(lab_path("non-nixos-aarch64")).unwrap();
    let wrong = text.replace("expect = \"fail\"\nexpect-output = \"No such file or directory\"\n", "");
    assert_ne!(text, wrong);
    let path = write_spec(dir.path(), "wrong-expectation", &wrong);
    let report = run(&path);
    assert!(!verdict(&report, "build").as_expected);
    assert!(!report.all_as_expected());

    let status =
        Command::new(env!("CARGO_BIN_EXE_xtask")).args(["lab", "run"]).arg(&path).env("CI", "1").output().unwrap();
    assert_eq!(status.status.code(), Some(1), "{}", String::from_utf8_lossy(&status.stdout));
}

#[test]
fn exit_status_is_0_when_as_expected_and_2_when_the_lab_cannot_run() {
    let ok = Command::new(env!("CARGO_BIN_EXE_xtask")).args(["lab", "run", "--json"]).output().unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let json: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(json["lab"], "non-nixos-aarch64");
    assert_eq!(json["backend"], "host");
    let build = json["probes"].as_array().unwrap().iter().find(|p| p["kind"] == "build").unwrap();
    assert_eq!(
        (build["expect"].as_str(), build["outcome"].as_str(), build["as_expected"].as_bool()),
        (Some("fail"), Some("fail"), Some(true))
    );
    assert!(build["output"].as_str().unwrap().contains("No such file or directory"));
    assert!(build["duration_ms"].is_u64() && build["system"] == "aarch64-linux");

    let dir = tempfile::tempdir().unwrap();
    let bad = write_spec(
        dir.path(),
        "bad",
        "description = \"x\"\nhost = \"non-nixos\"\nsystems = [\"arm-linux\"]\n[[probe]]\nkind = \"exec\"\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).args(["lab", "run"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("systems[0]") && stderr.contains("armv7l-linux"),
        "{stderr}"
    );
}

#[test]
fn every_run_builds_in_a_fresh_store() {
    for _ in 0..2 {
        let report = run_lab("non-nixos-aarch64-fix-f");
        let build = verdict(&report, "build");
        assert!(build.passed && build.execution.output.contains("building '/nix/store/"), "{}", build.execution.output);
    }
}

#[test]
fn a_hung_probe_ends_at_its_timeout_and_the_lab_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(
        dir.path(),
        "hang",
        "description = \"hangs\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n\
         [[probe]]\nkind = \"command\"\nrun = \"echo started; sleep 600\"\ntimeout = 1\n\
         [[probe]]\nkind = \"exec\"\n",
    );
    let start = Instant::now();
    let report = run(&path);
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
    let hung = &report.verdicts[0];
    assert!(hung.execution.timed_out && !hung.as_expected && hung.execution.output.contains("started"));
    assert!(report.verdicts[1].as_expected, "the probe after the hang did not run normally");
}

/// Runs `lab run <args>` as the user `nobody`, with `subids` as the contents
/// of /etc/subuid and /etc/subgid — written into an overlay on /etc in a
/// private mount namespace, so the host's files are never touched (and need
/// not exist).
fn run_as_nobody(cache: &Path, subids: &str, args: &[&str]) -> std::process::Output {
    let overlay = tempfile::tempdir().unwrap();
    let subid_file = overlay.path().join("subid");
    std::fs::write(&subid_file, subids).unwrap();
    let script = r#"set -e
mkdir "$OVERLAY/upper" "$OVERLAY/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$OVERLAY/upper,workdir=$OVERLAY/work" /etc
cp "$SUBID" /etc/subuid
cp "$SUBID" /etc/subgid
exec setpriv --reuid=65534 --regid=65534 --clear-groups --reset-env -- env CI=1 HOME="$CROSSLAB_CACHE" CROSSLAB_CACHE="$CROSSLAB_CACHE" "$@"
"#;
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", env!("CARGO_BIN_EXE_xtask")])
        .args(args)
        .env("SUBID", &subid_file)
        .env("OVERLAY", overlay.path())
        .env("CROSSLAB_CACHE", cache)
        .output()
        .unwrap()
}

/// The default lab without its compile probe, as a spec in `dir`: the
/// tests below are about namespaces and payloads, and a target toolchain is
/// a cached Debian root that only root builds.
fn default_lab_without_compile(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(xtask::labs_dir(&xtask::project_root()).join("non-nixos-aarch64.toml")).unwrap();
    let mut blocks = text.split("[[probe]]");
    let mut kept = blocks.next().unwrap().to_owned();
    for block in blocks.filter(|b| !b.contains("kind = \"compile\"")) {
        kept.push_str("[[probe]]");
        kept.push_str(block);
    }
    assert!(text.contains("kind = \"compile\"") && !kept.contains("compile"), "{kept}");
    let path = dir.join("non-nixos-aarch64.toml");
    std::fs::write(&path, kept).unwrap();
    path
}

#[test]
fn a_user_with_subordinate_ids_runs_labs_without_root() {
    // The user's own cache, with the aarch64 payload already in it.
    let cache = tempfile::tempdir().unwrap();
    let system = [xtask::systems::NixSystem::find("aarch64-linux").unwrap()];
    let payloads = payload::ensure(&xshell::Shell::new().unwrap(), &system).unwrap();
    let ours = cache.path().join("payloads/aarch64-linux");
    std::fs::create_dir_all(&ours).unwrap();
    std::fs::copy(payloads.join("aarch64-linux/busybox"), ours.join("busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", ours.join("sh")).unwrap();
    let lab = default_lab_without_compile(cache.path());
    let lab = lab.to_str().unwrap();
    let chown = Command::new("chown").args(["-R", "65534:65534"]).arg(cache.path()).status().unwrap();
    assert!(chown.success());

    // No subordinate ids: refused before anything starts, with the fix.
    let out = run_as_nobody(cache.path(), "", &["lab", "run", lab]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("usermod --add-subuids 100000-165535 --add-subgids 100000-165535 nobody"), "{err}");

    // With them, the reported bug is reproduced exactly as under root: the
    // sandbox is really on (a map that denied setgroups would let Nix fall
    // back to building unsandboxed, and the build would pass).
    let out =
        run_as_nobody(cache.path(), "nobody:200000:65536\nnogroup:200000:65536\n", &["lab", "run", "--json", lab]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let build = report["probes"].as_array().unwrap().iter().find(|p| p["kind"] == "build").unwrap();
    assert_eq!(build["outcome"], "fail");
    assert!(build["output"].as_str().unwrap().contains("No such file or directory"), "{build}");

    // --allow-global stays root's.
    let out = run_as_nobody(cache.path(), "nobody:200000:65536\n", &["lab", "run", "--allow-global"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only root"));
}

/// A Nix installed the official installer's way: `nix` in a /nix/store path
/// (here a copy of Debian's, registered in a store of its own), on PATH, and
/// Debian's /usr/bin/nix hidden. The lab's fresh /nix would hide that store;
/// the lab mounts the host Nix's closure into its own.
#[test]
fn a_nix_installed_in_the_store_runs_in_the_labs_fresh_store() {
    // Under the repository, which the overlay root binds at its own path.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let spec = write_spec(
        dir.path(),
        "installer-nix",
        format!(
            "{}\n[[probe]]\nkind = \"command\"\nrun = \"command -v nix-build; nix-build --version\"\nexpect-output = \"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nix-2.8.0/bin/nix-build\"\n",
            std::fs::read_to_string(lab_path("non-nixos-aarch64")).unwrap()
        ),
    );
    // In an overlay root: a machine without /nix gets one there, not here.
    let script = r#"mkdir -p /nix
mount -t tmpfs crosslab-test-nix /nix
p=/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nix-2.8.0
mkdir -p "$p/bin" "$p/libexec/nix"
cp /usr/bin/nix "$p/bin/nix"
for t in nix-build nix-store nix-instantiate nix-daemon; do ln -s nix "$p/bin/$t"; done
ln -s ../../bin/nix "$p/libexec/nix/build-remote"
printf '%s\n\n0\n' "$p" | "$p/bin/nix-store" --register-validity
mount --bind /bin/false /usr/bin/nix
PATH="$p/bin:$PATH" exec "$XTASK" lab run --json "$SPEC""#;
    let spec = spec.to_str().unwrap();
    let out = common::in_an_overlay_root(
        &format!("XTASK={} SPEC={}\n{script}", env!("CARGO_BIN_EXE_xtask"), xtask::quote::sh(spec)),
        &[],
        false,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let probes = report["probes"].as_array().unwrap();
    let build = probes.iter().find(|p| p["kind"] == "build").unwrap();
    assert!(build["output"].as_str().unwrap().contains("No such file or directory"), "{build}");
    let command = probes.iter().find(|p| p["kind"] == "command").unwrap();
    assert!(command["output"].as_str().unwrap().contains("nix-build (Nix) 2.8"), "{command}");
}

/// Ubuntu's apt sources name no Debian archive: payloads then come from
/// Debian's own (deb.debian.org). The sources are replaced in an overlay on
/// /etc in a private mount namespace; the payload cache starts empty.
#[test]
fn on_a_host_without_debian_sources_payloads_come_from_debians_archive() {
    let overlay = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let lab = default_lab_without_compile(overlay.path());
    let script = r#"set -e
mkdir "$OVERLAY/upper" "$OVERLAY/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$OVERLAY/upper,workdir=$OVERLAY/work" /etc
rm -rf /etc/apt/sources.list.d
mkdir /etc/apt/sources.list.d
printf 'Types: deb\nURIs: http://archive.ubuntu.com/ubuntu/\nSuites: noble noble-updates\nComponents: main universe\n' > /etc/apt/sources.list.d/ubuntu.sources
rm -f /etc/apt/sources.list
exec "$@"
"#;
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", env!("CARGO_BIN_EXE_xtask")])
        .args(["lab", "run"])
        .arg(&lab)
        .env("OVERLAY", overlay.path())
        .env("CROSSLAB_CACHE", cache.path())
        .env("CI", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}\n{stderr}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains("from Debian bookworm at http://deb.debian.org/debian"), "{stderr}");
    assert!(cache.path().join("payloads/aarch64-linux/busybox").is_file());
}
