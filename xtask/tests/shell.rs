//! `lab shell` for real, fed a script on stdin instead of a person: inside,
//! the lab's registration is there, the probes' environment names the chosen
//! system, emulated binaries and Nix run as in a probe; the shell's exit
//! status comes back out; and when it ends, no process is left in the lab's
//! namespaces. Needs root, Nix and qemu-user-static (the README's test
//! command installs them).

use std::io::Write;
use std::process::{Command, Output, Stdio};

mod common;
use common::write_spec;

const TWO_SYSTEMS: &str = r#"
description = "two systems to choose from"
host = "non-nixos"
systems = ["aarch64-linux", "riscv64-linux"]
[binfmt]
flags = "PF"
[[probe]]
kind = "exec"
"#;

fn shell(args: &[&str], script: &str) -> Output {
    shell_with(args, script, &[]).0
}

/// The shell's output and its process id.
fn shell_with(args: &[&str], script: &str, env: &[(&str, &str)]) -> (Output, u32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["lab", "shell"])
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A shell that refuses its arguments exits before reading its input.
    match child.stdin.take().unwrap().write_all(script.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        done => done.unwrap(),
    }
    let pid = child.id();
    (child.wait_with_output().unwrap(), pid)
}

/// Processes on this machine whose mount namespace is `ns`.
fn processes_in(ns: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter(|e| std::fs::read_link(e.path().join("ns/mnt")).is_ok_and(|l| l.to_string_lossy() == ns))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn the_shell_is_inside_the_lab_for_the_chosen_system_and_the_lab_ends_with_it() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "two", TWO_SYSTEMS);
    let script = r#"
echo "ns $(readlink /proc/self/ns/mnt)"
sleep 300 &
echo "system $CROSSLAB_SYSTEM"
cat /proc/sys/fs/binfmt_misc/qemu-riscv64
"$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM/busybox" uname -m
nix --extra-experimental-features nix-command show-config | grep '^extra-platforms ='
exit 7
"#;
    let out = shell(&[spec.to_str().unwrap(), "--system", "riscv64-linux"], script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "the shell's exit status comes out\n{stdout}\n{stderr}");
    assert!(stdout.contains("system riscv64-linux"), "{stdout}");
    assert!(stdout.contains("interpreter /usr/bin/qemu-riscv64-static"), "{stdout}");
    assert!(stdout.contains("flags: PF"), "{stdout}");
    assert!(stdout.lines().any(|l| l == "riscv64"), "an emulated binary runs: {stdout}");
    assert!(stdout.contains("extra-platforms = aarch64-linux riscv64-linux"), "{stdout}");
    assert!(stderr.contains("Leave the shell to tear the lab down"), "{stderr}");

    // The lab's namespaces died with the shell, the background sleep too.
    let ns = stdout.lines().find_map(|l| l.strip_prefix("ns ")).expect("the shell printed its namespace");
    assert_ne!(ns, std::fs::read_link("/proc/self/ns/mnt").unwrap().to_string_lossy(), "not the host's");
    assert_eq!(processes_in(ns), Vec::<String>::new(), "processes left in the lab");
}

#[test]
fn a_system_the_lab_does_not_emulate_is_refused_by_name() {
    common::test_packages();
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "two", TWO_SYSTEMS);
    let out = shell(&[spec.to_str().unwrap(), "--system", "s390x-linux"], "exit 0\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("aarch64-linux, riscv64-linux"), "{stderr}");
}

/// Issue 18: on a kernel without binfmt_misc namespaces (before 6.7;
/// `CROSSLAB_ASSUME_NO_BINFMT_NS` makes this one behave so) `lab shell` picks
/// the vm backend as `lab run` does, and a piped script runs in the VM lab:
/// the guest's kernel, the lab's registration, the chosen system's emulated
/// binary, the lab's Nix; its exit status comes out and the VM ends with it.
/// Boots the cached guest (built once, as root, by the vm backend's tests).
#[test]
fn on_an_old_kernel_the_shell_runs_in_the_vm_lab() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "two", TWO_SYSTEMS);
    let script = r#"
echo "kernel $(uname -r)"
echo "system $CROSSLAB_SYSTEM"
cat /proc/sys/fs/binfmt_misc/qemu-riscv64
"$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM/busybox" uname -m
nix --extra-experimental-features nix-command show-config | grep '^extra-platforms ='
exit 7
"#;
    let (out, pid) = shell_with(
        &[spec.to_str().unwrap(), "--system", "riscv64-linux"],
        script,
        &[("CROSSLAB_ASSUME_NO_BINFMT_NS", "1")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "the script's exit status comes out\n{stdout}\n{stderr}");
    assert!(stderr.contains("crosslab: backend vm:"), "{stderr}");
    let guest_kernel = stdout.lines().find_map(|l| l.strip_prefix("kernel ")).expect("the script ran");
    let host_kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_ne!(guest_kernel, host_kernel.trim(), "it ran in the VM, not here: {stdout}");
    assert!(stderr.contains(&format!("in the VM (Linux {guest_kernel})")), "{stderr}");
    assert!(stdout.contains("system riscv64-linux"), "{stdout}");
    assert!(stdout.contains("interpreter /usr/bin/qemu-riscv64-static"), "{stdout}");
    assert!(stdout.contains("flags: PF"), "{stdout}");
    assert!(stdout.lines().any(|l| l == "riscv64"), "an emulated binary runs: {stdout}");
    assert!(stdout.contains("extra-platforms = aarch64-linux riscv64-linux"), "{stdout}");
    assert!(stderr.contains("Leave the shell to tear the lab down"), "{stderr}");
    // The VM ended with the shell: no qemu it started (named after it) is left.
    let name = format!("crosslab-vm-{pid}-");
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&name))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "qemu outlived the shell");
}
