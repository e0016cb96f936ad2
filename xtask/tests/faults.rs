//! Faults on the real host backend: parallel labs, SIGKILL at each stage of a
//! run, probes that hang or flood their output. Nothing may leak into the
//! next run or into the host.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use xtask::outcome::LabReport;
use xtask::plan::Plan;
use xtask::provision::payload;
use xtask::run::run_host;
use xtask::spec;

mod common;
use common::write_spec;

fn run(path: &Path) -> LabReport {
    let lab = spec::load(path).unwrap_or_else(|e| panic!("{e}"));
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    let systems: Vec<_> = plan.probes.iter().map(|p| p.payload).collect();
    let payloads = payload::ensure(&xshell::Shell::new().unwrap(), &systems).unwrap();
    run_host(&plan, &payloads, false, &mut |_| {}).unwrap_or_else(|e| panic!("{e:#}"))
}

fn assert_all_as_expected(report: &LabReport) {
    for v in &report.verdicts {
        assert!(v.as_expected, "{}: {} — output:\n{}", report.lab, v.probe.id(), v.execution.output);
    }
}

/// Two labs at once, each with its own binfmt_misc and its own store: one
/// registers aarch64, the other registers nothing; each writes a marker into
/// its store and checks it cannot see the other's.
#[test]
fn parallel_labs_do_not_see_each_other() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let registered = write_spec(
        dir.path(),
        "registered",
        "description = \"a\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n[binfmt]\nflags = \"PF\"\n\
         [[probe]]\nkind = \"command\"\nrun = \"mkdir -p /nix/store && touch /nix/store/marker-registered && sleep 2 && test ! -e /nix/store/marker-unregistered\"\n\
         [[probe]]\nkind = \"exec\"\n[[probe]]\nkind = \"build\"\n",
    );
    let unregistered = write_spec(
        dir.path(),
        "unregistered",
        "description = \"b\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n[binfmt]\ninterpreter = \"none\"\n\
         [[probe]]\nkind = \"command\"\nrun = \"mkdir -p /nix/store && touch /nix/store/marker-unregistered && sleep 2 && test ! -e /nix/store/marker-registered\"\n\
         [[probe]]\nkind = \"exec\"\nexpect = \"fail\"\nexpect-output = \"Exec format error\"\n\
         [[probe]]\nkind = \"binfmt\"\n",
    );
    let start = Instant::now();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| run(&registered));
        let b = s.spawn(|| run(&unregistered));
        (a.join().unwrap(), b.join().unwrap())
    });
    // Both slept 2 s with their markers in place; one after the other would
    // take over 4 s: they overlapped (with room for a loaded machine).
    assert!(start.elapsed() < Duration::from_millis(3500), "the labs did not run at once: {:?}", start.elapsed());
    assert_all_as_expected(&a);
    assert_all_as_expected(&b);
}

/// A probe printing 2 GB: memory stays bounded, the output says it was cut,
/// and its start and end survive.
#[test]
fn a_flood_of_output_is_bounded() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(
        dir.path(),
        "flood",
        "description = \"flood\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n\
         [[probe]]\nkind = \"command\"\nrun = \"echo FIRST; head -c 2000000000 /dev/zero | tr '\\\\0' x; echo; echo LAST\"\ntimeout = 120\n",
    );
    let report = run(&path);
    let out = &report.verdicts[0].execution.output;
    assert!(report.verdicts[0].passed);
    assert!(out.len() < 100_000, "kept {} bytes", out.len());
    assert!(out.starts_with("FIRST") && out.trim_end().ends_with("LAST"), "{}…{}", &out[..40], &out[out.len() - 40..]);
    assert!(out.contains("crosslab cut 19999"), "no cut notice");
}

/// What a test can see of a running `lab run`: its stderr so far, and the
/// command lines of every process on the machine.
struct Sight {
    stderr: String,
    processes: String,
}

/// Starts `lab run` on `spec` and waits until `ready` says the moment has come.
fn start_until(spec: &Path, envs: &[(&str, &str)], ready: &dyn Fn(&Sight) -> bool) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["lab", "run"])
        .arg(spec)
        .env("CI", "1")
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = seen.clone();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let start = Instant::now();
    loop {
        let processes = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .collect::<Vec<_>>()
            .join("\n");
        let sight = Sight { stderr: seen.lock().unwrap().clone(), processes };
        if ready(&sight) {
            return child;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("`lab run` ended ({status}) before the fault point: {}", sight.stderr);
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the fault point never came: {}", sight.stderr);
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn lab_processes() -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline);
            if cmdline.contains("busybox\0sleep\x00600") {
                found.push(pid);
            }
        }
    }
    found.extend(common::lab_holders());
    found
}

fn kill_and_check_gone(mut child: std::process::Child) -> Duration {
    child.kill().unwrap();
    child.wait().unwrap();
    let start = Instant::now();
    while !lab_processes().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10), "lab processes survived: {:?}", lab_processes());
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

/// SIGKILL during registration, during a sandboxed build, and during cleanup:
/// each time the lab's processes vanish, and the next run passes.
#[test]
fn a_run_killed_at_any_stage_leaves_nothing_for_the_next() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    // Two registrations, so "registration" pauses between them.
    let two = write_spec(
        dir.path(),
        "two-systems",
        "description = \"two\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\", \"riscv64-linux\"]\n[binfmt]\nflags = \"PF\"\n\
         [[probe]]\nkind = \"build\"\n",
    );
    // A build whose builder sleeps, marked so the test can see it.
    let slow = write_spec(
        dir.path(),
        "slow-build",
        "description = \"slow\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n[binfmt]\nflags = \"PF\"\n\
         [[probe]]\nkind = \"command\"\nrun = '''\n\
         p=$(readlink -f \"$CROSSLAB_PAYLOADS\"/aarch64-linux)\n\
         echo building >&2\n\
         nix-build --no-out-link --argstr p \"$p\" --expr '{ p }: let d = builtins.path { path = /. + p; name = \"x\"; }; in derivation { name = \"crosslab-fault-probe\"; system = \"aarch64-linux\"; builder = \"${d}/sh\"; args = [ \"-c\" \"${d}/busybox sleep 600\" ]; }'\n'''\n",
    );
    let mut longest = Duration::ZERO;
    // The pauses announce themselves; the build is seen as its sleeping builder.
    let at_registration = |s: &Sight| s.stderr.contains("paused at registration");
    let building = |s: &Sight| s.processes.contains("busybox sleep 600");
    let at_cleanup = |s: &Sight| s.stderr.contains("paused at cleanup");
    // A spec, its environment, and when the run is where it is to be killed.
    type Case<'a> = (&'a PathBuf, &'a [(&'a str, &'a str)], &'a dyn Fn(&Sight) -> bool);
    let cases: [Case; 3] = [
        (&two, &[("CROSSLAB_FAULT_PAUSE", "registration")], &at_registration),
        (&slow, &[], &building),
        (&two, &[("CROSSLAB_FAULT_PAUSE", "cleanup")], &at_cleanup),
    ];
    for (spec, envs, ready) in cases {
        let child = start_until(spec, envs, ready);
        let took = kill_and_check_gone(child);
        eprintln!("cleanup after SIGKILL took {took:?}");
        longest = longest.max(took);
        assert_all_as_expected(&run(&two));
    }
    eprintln!("longest cleanup after SIGKILL: {longest:?}");
}
