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
    common::test_packages();
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
    common::test_packages();
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
    common::test_packages();
    let report = run_lab("extra-platforms-unregistered");
    assert_all_as_expected(&report);
    for kind in ["exec", "build"] {
        let v = verdict(&report, kind);
        assert!(!v.passed && v.execution.output.contains("Exec format error"), "{kind}: {}", v.execution.output);
    }
}

#[test]
fn multiarch_uname_matches_the_table_and_armv7_on_armv6_dies() {
    common::test_packages();
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
    common::test_packages();
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
fn nixos_dynamic_emulator_in_a_chroot_with_f_exits_255_silently() {
    // NixOS 25.05: /run/binfmt/aarch64-linux is the static qemu-aarch64-binfmt-P
    // wrapper; held open with F it runs in the chroot, but the dynamically
    // linked qemu it execs by absolute path is not there.
    let report = run_lab("nixos-chroot-dynamic-emulator");
    assert_all_as_expected(&report);
    let f = &report.verdicts[2];
    assert_eq!(f.execution.exit_code, Some(255), "{}", f.execution.output);
    assert_eq!(f.execution.output.trim(), "flags: PF\nchroot /busybox exited with status 255 and printed 0 bytes");
    // Without F the kernel looks for /run/binfmt inside the chroot.
    assert!(report.verdicts[1].execution.output.contains("No such file or directory"));
    // preferStaticEmulators: the static qemu, held open, runs there.
    let report = run_lab("nixos-chroot-dynamic-emulator-fix-static");
    assert_all_as_expected(&report);
    assert!(report.verdicts[1].execution.output.lines().any(|l| l == "aarch64"));
}

#[test]
fn nixos_p_wrapper_passes_argv0_and_moves_ld_variables_to_qemu_flags() {
    // A simulated NixOS host registers crosslab's static wrapper in the lab's
    // private binfmt_misc; a foreign static busybox runs through it.
    let dir = tempfile::tempdir().unwrap();
    let run_text = r#"
bb=$CROSSLAB_PAYLOADS/aarch64-linux/busybox
w=$(readlink /run/binfmt/aarch64-linux)
echo "interpreter $w"
case $w in */qemu-aarch64-binfmt-P) ;; *) exit 1;; esac
ldd "$w" 2>&1 | grep -q 'not a dynamic executable' && echo "the wrapper is static"
# argv[0] differs from the path: busybox picks its applet by argv[0] alone
bash -c 'exec -a uname "$0" -m' "$bb" | sed 's/^/argv0 uname: /'
# LD_* reach the guest through -E; left in qemu's own environment its loader would complain
LD_PRELOAD=/crosslab-no-such.so "$bb" sh -c 'echo "guest LD_PRELOAD=$LD_PRELOAD"' 2>&1
"#;
    let spec = write_spec(
        dir.path(),
        "nixos-p-wrapper",
        format!(
            "description = \"P wrapper\"\nhost = \"nixos\"\nsystems = [\"aarch64-linux\"]\n[binfmt]\ninterpreter = \"nixos\"\n\n[[probe]]\nkind = \"binfmt\"\n\n[[probe]]\nkind = \"command\"\nrun = '''{run_text}'''\n"
        ),
    );
    let report = run(&spec);
    assert_all_as_expected(&report);
    let out = &report.verdicts[1].execution.output;
    assert!(out.contains("the wrapper is static"), "{out}");
    assert!(out.lines().any(|l| l == "argv0 uname: aarch64"), "{out}");
    assert!(out.lines().any(|l| l == "guest LD_PRELOAD=/crosslab-no-such.so"), "{out}");
    assert!(!out.contains("cannot be preloaded"), "{out}");
}

#[test]
fn a_nixos_host_registers_i686_as_the_module_does_and_i386_binaries_stay_native() {
    // binfmt.nix gives a system the host executes (nixpkgs' canExecute) the
    // `exec "$@"` script in a shell wrapper, no flags; its magic (EM_486)
    // does not match i386 binaries (EM_386), which run natively.
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        "nixos-i686",
        "description = \"i686 on x86_64\"\nhost = \"nixos\"\nsystems = [\"i686-linux\"]\n[binfmt]\ninterpreter = \"nixos\"\n\n[[probe]]\nkind = \"binfmt\"\n\n[[probe]]\nkind = \"nix-config\"\n\n[[probe]]\nkind = \"exec\"\n\n[[probe]]\nkind = \"build\"\n\n[[probe]]\nkind = \"command\"\nrun = 'cat \"$(readlink /run/binfmt/i686-linux)\" && /run/binfmt/i686-linux /bin/echo the wrapper execs its program'\n",
    );
    let report = run(&spec);
    assert_all_as_expected(&report);
    let entry = &verdict(&report, "binfmt").execution.output;
    assert!(entry.lines().any(|l| l == "interpreter /run/binfmt/i686-linux"), "{entry}");
    assert!(entry.lines().any(|l| l == "flags: "), "{entry}");
    assert!(verdict(&report, "nix-config").execution.output.contains("/run/binfmt"));
    assert!(verdict(&report, "exec").execution.output.lines().any(|l| l == "i686"));
    let script = &verdict(&report, "command").execution.output;
    assert!(script.contains("exec ") && script.contains("i686-linux-exec"), "{script}");
    // Run as binfmt_misc would run it (Debian's /bin/sh is dash: no `exec --`).
    assert!(script.lines().any(|l| l == "the wrapper execs its program"), "{script}");
}

#[test]
fn a_nixos_host_that_emulates_nothing_adds_no_binfmt_sandbox_path() {
    common::test_packages();
    // NixOS's binfmt module sets nix.settings only when emulatedSystems is
    // not empty: a lab of the host's own system must not ask the sandbox for
    // a /run/binfmt that nothing creates ("getting attributes of path").
    // (With `interpreter = "nixos"` the host's own system is an error.)
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        "nixos-native-only",
        "description = \"native only\"\nhost = \"nixos\"\nsystems = [\"x86_64-linux\"]\n[binfmt]\ninterpreter = \"none\"\n\n[[probe]]\nkind = \"nix-config\"\n\n[[probe]]\nkind = \"build\"\n",
    );
    let report = run(&spec);
    assert_all_as_expected(&report);
    let config = verdict(&report, "nix-config");
    assert!(!config.execution.output.contains("/run/binfmt"), "{}", config.execution.output);
    assert!(verdict(&report, "build").passed);
}

#[test]
fn reported_issues_reproduced_with_command_probes() {
    common::test_packages();
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
    common::test_packages();
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
    common::test_packages();
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
    common::test_packages();
    for _ in 0..2 {
        let report = run_lab("non-nixos-aarch64-fix-f");
        let build = verdict(&report, "build");
        assert!(build.passed && build.execution.output.contains("building '/nix/store/"), "{}", build.execution.output);
    }
}

#[test]
fn a_hung_probe_ends_at_its_timeout_and_the_lab_goes_on() {
    common::test_packages();
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
    common::test_packages();
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
    common::test_packages();
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

/// Ubuntu's apt sources name no Debian archive: with no
/// CROSSLAB_DEBIAN_MIRROR either, `lab run` stops before fetching anything
/// and says where it looked and what to set. The sources are replaced in an
/// overlay on /etc in a private mount namespace; the payload cache starts
/// empty and stays so.
#[test]
fn on_a_host_without_debian_sources_and_no_mirror_set_the_error_names_both() {
    common::test_packages();
    let overlay = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let lab = default_lab_without_compile(overlay.path());
    let script = r#"set -e
mkdir "$OVERLAY/upper" "$OVERLAY/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$OVERLAY/upper,workdir=$OVERLAY/work" /etc
rm -rf /etc/apt/sources.list.d
mkdir /etc/apt/sources.list.d
printf 'Types: deb\nURIs: http://ubuntu-archive.invalid/ubuntu/\nSuites: noble noble-updates\nComponents: main universe\n' > /etc/apt/sources.list.d/ubuntu.sources
rm -f /etc/apt/sources.list
exec "$@"
"#;
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", env!("CARGO_BIN_EXE_xtask")])
        .args(["lab", "run"])
        .arg(&lab)
        .env("OVERLAY", overlay.path())
        .env("CROSSLAB_CACHE", cache.path())
        .env_remove("CROSSLAB_DEBIAN_MIRROR")
        .env("CI", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}\n{stderr}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains("CROSSLAB_DEBIAN_MIRROR is not set"), "{stderr}");
    assert!(stderr.contains("/etc/apt/sources.list.d/*.list and *.sources"), "{stderr}");
    assert!(!cache.path().join("payloads/aarch64-linux/busybox").exists());
}

/// The shapes of issue 17's reports, each run for real from its lab: a
/// native build that runs a foreign program (nixpkgs#61537), host state as
/// spec keys (`[machine]`), system features, and a per-Nix expected text.
#[test]
fn reports_written_as_spec_keys_reproduce() {
    // nixpkgs#61537: passes through the host's F entry, fails where binfmt_misc is not mounted.
    let laptop = run_lab("nixpkgs-61537-laptop");
    assert_all_as_expected(&laptop);
    let build = verdict(&laptop, "build");
    assert!(build.passed && build.execution.output.lines().any(|l| l == "aarch64"), "{}", build.execution.output);
    assert_eq!(build.probe.expect.line.as_deref(), Some("aarch64"), "derived from the payload, not the x86_64 system");
    let ci = run_lab("nixpkgs-61537-ci");
    assert_all_as_expected(&ci);
    assert!(verdict(&ci, "build").execution.output.contains("Exec format error"));
    // The same build with a registration but no F: the sandbox lacks the interpreter.
    let dir = tempfile::tempdir().unwrap();
    let no_f = write_spec(
        dir.path(),
        "no-f",
        "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"x86_64-linux\"]\n[[probe]]\nkind = \"build\"\npayload = \"aarch64-linux\"\nexpect = \"fail\"\nexpect-output = \"No such file or directory\"\n",
    );
    assert_all_as_expected(&run(&no_f));

    // NixOS-WSL#552: /run/binfmt removed after registration.
    let wsl = run_lab("nixos-wsl-552-run-binfmt-missing");
    assert_all_as_expected(&wsl);
    // nix#7783: /proc partly hidden; the wording follows the Nix that ran.
    let proc = run_lab("nix-7783-proc-partly-hidden");
    assert_all_as_expected(&proc);
    let out = &verdict(&proc, "build").execution.output;
    assert!(
        out.contains("mounting /proc: Operation not permitted")
            || out.contains("does not support the kernel namespaces that are required for sandboxing"),
        "{out}"
    );
    // raspberry-pi-nix#129: a missing platform (infra#1916's missing feature
    // is an aarch64 builder's: tests/vm_backend.rs).
    assert_all_as_expected(&run_lab("raspberry-pi-nix-129-platform-missing"));
}

/// `binfmt-misc = "not-mounted"` leaves nothing of binfmt_misc in the lab,
/// not even the host's entries: a foreign binary cannot run at all.
#[test]
fn a_machine_without_binfmt_misc_runs_no_foreign_binary() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        "unmounted",
        "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n[binfmt]\ninterpreter = \"none\"\n[machine]\nbinfmt-misc = \"not-mounted\"\n[[probe]]\nkind = \"command\"\nrun = \"test ! -e /proc/sys/fs/binfmt_misc/register && ! mountpoint -q /proc/sys/fs/binfmt_misc\"\n[[probe]]\nkind = \"exec\"\nexpect = \"fail\"\nexpect-output = \"Exec format error\"\n",
    );
    assert_all_as_expected(&run(&spec));
}
