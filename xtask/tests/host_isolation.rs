//! A lab never changes the host: its global binfmt_misc entries, its /nix,
//! its mounts — not after a normal run, not after a run SIGKILLed mid-probe,
//! and with `--allow-global` (kernels without binfmt_misc namespaces) the
//! host's entries are put back exactly, even after a SIGKILL.
//!
//! binfmt_misc entries live only while an instance is mounted, so this test
//! mounts the host's instance (as systemd does on a normal machine) and
//! registers two entries of its own first; otherwise there would be nothing
//! to disturb. Everything runs in one #[test], in order, because it watches
//! global state; cargo runs test binaries one at a time.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

const BINFMT: &str = "/proc/sys/fs/binfmt_misc";

/// Entries this test puts in the host's binfmt_misc, to see them survive.
const HOST_ENTRIES: &[&str] = &[
    ":crosslab-test-ext:E::crosslabtest::/bin/false:",
    // Same magic as the labs' aarch64 entry, disabled, with other flags.
    r":qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\x00\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:OC",
];

#[derive(Debug, PartialEq)]
struct HostState {
    binfmt: Vec<(String, String)>,
    nix: Vec<String>,
    mounts: Vec<String>,
}

fn host_state() -> HostState {
    let mut binfmt: Vec<(String, String)> = std::fs::read_dir(BINFMT)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name() != "register")
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(e.path()).unwrap()))
        .collect();
    binfmt.sort();
    let nix = walkdir::WalkDir::new("/nix")
        .max_depth(4)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.path().display().to_string())
        .collect();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().skip(3).take(2).collect::<Vec<_>>().join(" "))
        .collect();
    HostState { binfmt, nix, mounts }
}

/// Mounts the host's binfmt_misc and registers [`HOST_ENTRIES`]; undoes both on drop.
struct HostBinfmt {
    mounted_here: bool,
}

impl HostBinfmt {
    fn set_up() -> HostBinfmt {
        let mounted_here = !Path::new(BINFMT).join("register").exists();
        if mounted_here {
            let ok = Command::new("mount").args(["-t", "binfmt_misc", "binfmt_misc", BINFMT]).status().unwrap();
            assert!(ok.success(), "mounting binfmt_misc on the host failed");
        }
        for entry in HOST_ENTRIES {
            let name = entry.split(':').nth(1).unwrap();
            let _ = std::fs::write(Path::new(BINFMT).join(name), "-1");
            std::fs::write(Path::new(BINFMT).join("register"), entry).unwrap();
        }
        std::fs::write(Path::new(BINFMT).join("qemu-aarch64"), "0").unwrap();
        HostBinfmt { mounted_here }
    }
}

impl Drop for HostBinfmt {
    fn drop(&mut self) {
        for entry in HOST_ENTRIES {
            let name = entry.split(':').nth(1).unwrap();
            let _ = std::fs::write(Path::new(BINFMT).join(name), "-1");
        }
        if self.mounted_here {
            let _ = Command::new("umount").arg(BINFMT).status();
        }
    }
}

fn xtask() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.env("CI", "1").stdout(Stdio::null());
    c
}

fn lab(name: &str) -> PathBuf {
    xtask::labs_dir(&xtask::project_root()).join(format!("{name}.toml"))
}

/// PIDs of processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmdline).contains(needle) {
                found.push(pid);
            }
        }
    }
    found
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

/// Runs `lab run` on a lab that sleeps in a probe, SIGKILLs crosslab while
/// the probe runs, and returns how long the lab's processes took to vanish.
fn kill_mid_probe(dir: &Path, extra_args: &[&str], envs: &[(&str, &str)]) -> Duration {
    let marker = "sleep 271.828";
    let path = dir.join("killed.toml");
    std::fs::write(
        &path,
        format!(
            "description = \"killed\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n\
             [[probe]]\nkind = \"build\"\n[[probe]]\nkind = \"command\"\nrun = \"{marker}\"\n"
        ),
    )
    .unwrap();
    let mut run = xtask().args(["lab", "run"]).args(extra_args).arg(&path).envs(envs.iter().copied()).spawn().unwrap();
    wait_until("the probe runs", Duration::from_secs(60), || !processes_with(marker).is_empty());
    run.kill().unwrap(); // SIGKILL: no destructor or signal handler runs
    run.wait().unwrap();
    wait_until("the lab's processes are gone", Duration::from_secs(10), || {
        processes_with(marker).is_empty() && common::lab_holders().is_empty()
    })
}

#[test]
fn labs_leave_the_host_as_they_found_it() {
    common::test_packages();
    assert!(xtask::machine::kernel_at_least(&std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap(), 6, 7));
    let _host = HostBinfmt::set_up();
    let before = host_state();
    assert!(before.binfmt.iter().any(|(n, s)| n == "qemu-aarch64" && s.starts_with("disabled")), "{before:?}");
    let dir = tempfile::tempdir().unwrap();

    // Namespaced runs: the lab's own qemu-aarch64 entry, and the host's stays disabled.
    for name in ["non-nixos-aarch64", "nixos-vm-aarch64", "extra-platforms-unregistered"] {
        let status = xtask().args(["lab", "run"]).arg(lab(name)).status().unwrap();
        assert_eq!(status.code(), Some(0), "{name}");
        assert_eq!(before, host_state(), "after {name}");
    }
    let took = kill_mid_probe(dir.path(), &[], &[]);
    eprintln!("namespaced run: cleanup after SIGKILL took {took:?}");
    assert_eq!(before, host_state(), "after a SIGKILLed run");

    // --allow-global: the host's entries are cleared for the lab (so its own
    // registration is the one in force) and put back afterwards.
    let global = [("CROSSLAB_ASSUME_NO_BINFMT_NS", "1")];
    for name in ["non-nixos-aarch64", "extra-platforms-unregistered"] {
        let status = xtask().args(["lab", "run", "--allow-global"]).arg(lab(name)).envs(global).status().unwrap();
        assert_eq!(status.code(), Some(0), "{name} with --allow-global");
        assert_eq!(before, host_state(), "after {name} with --allow-global");
    }
    // A lab that fails mid-way (a probe not as expected, then a command that
    // dies) still gets the host's entries back.
    let failing = dir.path().join("fails-mid-way.toml");
    std::fs::write(
        &failing,
        "description = \"fails mid-way\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n\n[[probe]]\nkind = \"build\"\n\n[[probe]]\nkind = \"command\"\nrun = \"kill -9 $$\"\n",
    )
    .unwrap();
    let status = xtask().args(["lab", "run", "--allow-global"]).arg(&failing).envs(global).status().unwrap();
    assert_eq!(status.code(), Some(1), "a lab whose probes are not as expected");
    assert_eq!(before, host_state(), "after a failing lab with --allow-global");
    let took = kill_mid_probe(dir.path(), &["--allow-global"], &global);
    // The holder restores after crosslab is gone; give it the moment it needs.
    wait_until("the host's entries are back", Duration::from_secs(10), || before == host_state());
    eprintln!("--allow-global: cleanup after SIGKILL took {took:?}");

    // Without the flag, the host backend on a kernel without binfmt_misc
    // namespaces is refused, naming both ways out (without --backend,
    // lab run would pick the vm backend: tests/vm_backend.rs).
    let refused = xtask()
        .args(["lab", "run", "--backend", "host"])
        .arg(lab("non-nixos-aarch64"))
        .envs(global)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("--allow-global") && said.contains("--backend vm"), "{said}");
    assert_eq!(before, host_state());

    // And the next run trips on nothing.
    assert_eq!(xtask().args(["lab", "run"]).status().unwrap().code(), Some(0));
}
