//! The `compile` probe for real, on the host backend: Debian's native aarch64
//! toolchain, made a store path, compiles and runs a program inside a
//! sandboxed aarch64 build under emulation; the unfixed non-NixOS lab's
//! compile fails as its build does; a toolchain whose loader the build cannot
//! see, and a host assembler given target code, are diagnosed. Needs root,
//! Nix, qemu-user-static and Debian's archive (the toolchain is made once).

use std::path::Path;

use xtask::diagnose::{self, Cause};
use xtask::outcome::LabReport;
use xtask::plan::Plan;
use xtask::provision::{payload, rootfs, toolchain};
use xtask::run::run_host;
use xtask::spec;
use xtask::systems::NixSystem;

mod common;
use common::write_spec;

fn run(path: &Path) -> (spec::Lab, LabReport) {
    let lab = spec::load(path).unwrap_or_else(|e| panic!("{e}"));
    let report = {
        let plan = Plan::new(&lab, std::env::consts::ARCH);
        let mut systems: Vec<_> = plan.probes.iter().map(|p| p.payload).collect();
        systems.dedup();
        let payloads = payload::ensure(&xshell::Shell::new().unwrap(), &systems).unwrap();
        run_host(&plan, &payloads, false, &mut |_| {}).unwrap_or_else(|e| panic!("{e:#}"))
    };
    (lab, report)
}

const AARCH64_PF: &str = r#"description = "compile test"
host = "non-nixos"
systems = ["aarch64-linux"]
[binfmt]
interpreter = "fhs"
flags = "PF"
"#;

#[test]
fn the_targets_own_toolchain_compiles_under_emulation_in_the_sandbox() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "compile", format!("{AARCH64_PF}[[probe]]\nkind = \"compile\"\n"));
    let (_, report) = run(&path);
    let v = &report.verdicts[0];
    assert!(v.passed && v.as_expected, "{}", v.execution.output);
    assert!(v.execution.output.lines().any(|l| l == "compiled for aarch64, runs as aarch64"), "{}", v.execution.output);
    let times = v.compile_times().unwrap_or_else(|| panic!("no compile times in:\n{}", v.execution.output));
    assert!(times.emulated_ms > 0);
    // The toolchain was bound, not copied: the build names its store path.
    let aarch64 = NixSystem::find("aarch64-linux").unwrap();
    let made = toolchain::ensure(&xshell::Shell::new().unwrap(), &[(aarch64, spec::Language::C)]).unwrap();
    assert!(made[0].tree().join("bin/cc").is_file());
    assert!(made[0].manifest.store_path.starts_with("/nix/store/"));
}

/// A Debian stack's root has no cross gcc: the lab gets Debian's, of the
/// stack's suite, from the cache (a wrapper first on its PATH), so the
/// compile is still timed both ways.
#[test]
fn on_a_debian_stack_the_compile_is_timed_against_the_stacks_cross_gcc() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "compile", format!("{AARCH64_PF}[[probe]]\nkind = \"compile\"\n"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["lab", "run", "--backend", "host", "--stack", "trixie", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lab: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let probe = &lab["probes"][0];
    assert_eq!(lab["versions"]["stack"], "trixie", "{lab}");
    assert!(probe["compile"]["emulated_ms"].as_u64().is_some_and(|ms| ms > 0), "{probe}");
    assert!(probe["compile"]["cross_ms"].as_u64().is_some(), "no cross time on the trixie stack: {probe}");
    // The cross gcc is the cached root's, not the host's.
    let aarch64 = NixSystem::find("aarch64-linux").unwrap();
    let cross =
        rootfs::cached(&xtask::provision::cross::recipe("trixie", aarch64)).unwrap().expect("the cross root is cached");
    assert!(cross.tree().join("usr/bin/aarch64-linux-gnu-gcc").exists());
}

#[test]
fn the_unfixed_non_nixos_lab_compiles_no_more_than_it_builds() {
    common::test_packages();
    let lab = xtask::labs_dir(&xtask::project_root()).join("non-nixos-aarch64.toml");
    let (lab, report) = run(&lab);
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    let build = report.verdicts.iter().find(|v| v.probe.kind.as_str() == "build").expect("a build probe");
    assert!(!build.passed);
    let mut compile =
        report.verdicts.into_iter().find(|v| v.probe.kind.as_str() == "compile").expect("a compile probe");
    assert!(!compile.passed && compile.as_expected, "{}", compile.execution.output);
    assert!(compile.execution.output.contains("No such file or directory"));
    // Were it expected to pass, it would get the build's diagnosis.
    compile.as_expected = false;
    compile.probe.expect.status = spec::Expect::Pass;
    let surprise = compile;
    let d = diagnose::diagnose(&plan, &surprise).expect("a diagnosis");
    assert_eq!(d.cause, Cause::InterpreterOutsideSandbox, "{d:?}");
}

/// Debian's aarch64 toolchain as Debian ships it (not patched for the store).
fn debian_root() -> std::path::PathBuf {
    let aarch64 = NixSystem::find("aarch64-linux").unwrap();
    rootfs::ensure(
        &xshell::Shell::new().unwrap(),
        &toolchain::recipe_of(aarch64, spec::Language::C, aarch64.debian_suite),
    )
    .unwrap()
    .tree()
}

fn diagnosis_of_command(run_line: &str) -> (String, Option<Cause>) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{AARCH64_PF}[[probe]]\nkind = \"command\"\nrun = {}\n", toml_string(run_line));
    let path = write_spec(dir.path(), "broken-toolchain", text);
    let (lab, report) = run(&path);
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    let v = &report.verdicts[0];
    assert!(!v.passed, "{}", v.execution.output);
    (v.execution.output.clone(), diagnose::diagnose(&plan, v).map(|d| d.cause))
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn a_target_program_without_its_loader_is_diagnosed() {
    common::test_packages();
    let root = debian_root();
    let (output, cause) = diagnosis_of_command(&format!("{}/usr/bin/gcc --version", root.display()));
    assert!(output.contains("Could not open '/lib/ld-linux-aarch64.so.1'"), "{output}");
    assert_eq!(cause, Some(Cause::TargetLoaderMissing), "{output}");
}

#[test]
fn a_host_assembler_on_target_code_is_diagnosed() {
    common::test_packages();
    let root = debian_root();
    // QEMU_LD_PREFIX finds the loader and gcc's own cc1, but gcc finds `as`
    // through PATH: the host's.
    let run = format!(
        "cd /tmp && printf 'int main(void){{return 0;}}\\n' > h.c && QEMU_LD_PREFIX={r} {r}/usr/bin/gcc --sysroot={r} -c h.c",
        r = root.display()
    );
    let (output, cause) = diagnosis_of_command(&run);
    // gcc hands the target's `as` options the host's does not know.
    assert!(output.contains("as: unrecognized option"), "{output}");
    assert_eq!(cause, Some(Cause::HostToolPickedUp), "{output}");
}

#[test]
fn the_targets_own_rustc_compiles_a_crate_offline_under_emulation() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{AARCH64_PF}[[probe]]\nkind = \"compile\"\nlanguage = \"rust\"\ntimeout = 300\n");
    let path = write_spec(dir.path(), "compile-rust", text);
    let (_, report) = run(&path);
    let v = &report.verdicts[0];
    assert!(v.passed && v.as_expected, "{}", v.execution.output);
    assert!(v.execution.output.lines().any(|l| l == "compiled for aarch64, runs as aarch64"), "{}", v.execution.output);
    assert!(v.compile_times().is_some_and(|t| t.emulated_ms > 0 && t.cross_ms.is_none()), "{}", v.execution.output);
}

#[test]
fn language_is_checked_and_only_compile_probes_take_it() {
    common::test_packages();
    let parse = |probe: &str| {
        spec::parse("x", Path::new("x.toml"), &format!("{AARCH64_PF}[[probe]]\n{probe}")).map_err(|e| e.to_string())
    };
    let lab = parse("kind = \"compile\"\n").unwrap();
    assert_eq!(lab.probes[0].language, spec::Language::C);
    let lab = parse("kind = \"compile\"\nlanguage = \"rust\"\n").unwrap();
    assert_eq!(lab.probes[0].language, spec::Language::Rust);
    let bad = parse("kind = \"compile\"\nlanguage = \"go\"\n").unwrap_err();
    assert!(bad.contains("probe[0].language") && bad.contains("rust"), "{bad}");
    let wrong = parse("kind = \"build\"\nlanguage = \"c\"\n").unwrap_err();
    assert!(wrong.contains("compiles nothing"), "{wrong}");
    // The plan's command and expectation follow the language.
    let lab = parse("kind = \"compile\"\nlanguage = \"rust\"\n").unwrap();
    let plan = Plan::new(&lab, "x86_64");
    let probe = &plan.probes[0];
    assert!(probe.command.contains("aarch64-linux-rust") && probe.command.contains("hello.rs"), "{}", probe.command);
    assert_eq!(probe.expect.line.as_deref(), Some("compiled for aarch64, runs as aarch64"));
}
