//! The vm backend for real: the reported reproductions give the host
//! backend's verdicts inside a Debian guest, every lab gets a fresh Nix store,
//! and a VM that does not come up is killed at its timeout with nothing left
//! behind. Needs root the first time (building the image with mmdebstrap) and
//! qemu-system-x86, mmdebstrap, e2fsprogs; the tests install what is missing.
//! One guest serves all the labs, as `lab run --backend vm` does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use xtask::plan::Plan;
use xtask::provision::{payload, prereq, toolchain};
use xtask::run::vm::{self, BootOptions, Guest, Image};
use xtask::run::{run_host, Executor};
use xtask::spec;

mod common;

/// The labs of the host backend's reproduction tests.
const LABS: &[&str] = &[
    "non-nixos-aarch64",
    "non-nixos-aarch64-fix-sandbox-path",
    "non-nixos-aarch64-fix-f",
    "non-nixos-aarch64-no-sandbox",
    "extra-platforms-unregistered",
];

fn load(name: &str) -> spec::Lab {
    let path = xtask::labs_dir(&xtask::project_root()).join(format!("{name}.toml"));
    spec::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The image (built on first use; parallel tests wait for one build), the
/// payloads and toolchains of every lab here, the host programs both backends need.
fn image_and_payloads() -> (Image, PathBuf) {
    let sh = xshell::Shell::new().unwrap();
    let mut programs = vm::host_programs();
    programs.extend(xtask::provision::guest_image::build_programs());
    programs.extend(["nix", "nix-build", "nsenter", "/usr/bin/qemu-aarch64-static"].map(str::to_owned));
    prereq::ensure(&sh, &programs).unwrap_or_else(|e| panic!("{e:#}"));
    xtask::provision::qemu_system::ensure(&sh).unwrap_or_else(|e| panic!("{e:#}"));
    let image = xtask::provision::guest_image::ensure(&sh).unwrap_or_else(|e| panic!("{e:#}"));
    let labs: Vec<spec::Lab> = LABS.iter().map(|l| load(l)).collect();
    let plans: Vec<Plan> = labs.iter().map(|l| Plan::new(l, std::env::consts::ARCH)).collect();
    let plans: Vec<&Plan> = plans.iter().collect();
    let payloads = payload::ensure(&sh, &xtask::plan::payload_systems(&plans)).unwrap_or_else(|e| panic!("{e:#}"));
    toolchain::ensure(&sh, &xtask::plan::compile_toolchains(&plans)).unwrap_or_else(|e| panic!("{e:#}"));
    (image, payloads)
}

/// Boots a guest sharing the toolchain cache, as `lab run --backend vm`
/// does when a lab compiles.
fn boot(image: &Image, payloads: &Path) -> Guest {
    let mut options = BootOptions::new(vm::choose_accel(image, payloads).unwrap());
    options.shared_cache = Some(payload::cache_dir().unwrap());
    Guest::boot(image, payloads, &options).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Whether any process still runs with `needle` in its command line.
fn process_with(needle: &str) -> Option<String> {
    std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()).find_map(|e| {
        e.file_name().to_str()?.parse::<u32>().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        text.contains(needle).then_some(text)
    })
}

/// The VM's name in a boot error (`the VM `crosslab-vm-…` did not …`).
fn vm_name_in(error: &str) -> String {
    let start = error.find("`crosslab-vm-").unwrap_or_else(|| panic!("no VM name in: {error}")) + 1;
    error[start..].split('`').next().unwrap().to_owned()
}

#[test]
fn reproduction_labs_give_the_host_backends_verdicts() {
    common::test_packages();
    let (image, payloads) = image_and_payloads();
    let guest = boot(&image, &payloads);
    assert!(guest.kernel_release.ends_with("-amd64"), "guest kernel {}", guest.kernel_release);
    assert_eq!(guest.kernel_release, image.manifest.kernel_release);
    eprintln!("VM up in {:.1} s on {:?}", guest.boot_time.as_secs_f64(), guest.accel);

    for name in LABS {
        let lab = load(name);
        let plan = Plan::new(&lab, std::env::consts::ARCH);
        let on_host =
            run_host(&plan, &payloads, false, &mut |_| {}).unwrap_or_else(|e| panic!("{name} on host: {e:#}"));
        let started = Instant::now();
        let in_vm = vm::run_vm(&plan, &guest, &[], &mut |_| {}).unwrap_or_else(|e| panic!("{name} in the VM: {e:#}"));
        eprintln!("{name}: {:.1} s in the VM", started.elapsed().as_secs_f64());
        assert_eq!(in_vm.backend, "vm");
        assert_eq!(on_host.verdicts.len(), in_vm.verdicts.len(), "{name}");
        for (h, v) in on_host.verdicts.iter().zip(&in_vm.verdicts) {
            assert_eq!(h.probe.id(), v.probe.id());
            assert!(
                v.as_expected,
                "{name}: {} — expected {}, VM output:\n{}",
                v.probe.id(),
                v.probe.expect.describe(),
                v.execution.output
            );
            assert_eq!(
                (h.as_expected, h.passed),
                (v.as_expected, v.passed),
                "{name}: {} differs; host output:\n{}\nVM output:\n{}",
                v.probe.id(),
                h.execution.output,
                v.execution.output
            );
        }
        let json = vm::to_json(&plan, &in_vm, &guest).unwrap();
        assert_eq!(json["backend"], "vm");
        assert_eq!(json["guest"]["kernel"], guest.kernel_release.as_str());
    }

    // The last lab built in the store; the next lab starts from an empty one
    // and from no binfmt entries.
    let ran = guest.exec("ls /nix/store | grep -c crosslab-probe", Duration::from_secs(10)).unwrap();
    assert!(ran.succeeded(), "the last lab left no build in the store: {}", ran.output);
    guest
        .reset(
            "sandbox = true\n",
            &xtask::plan::NixosSimulation::default(),
            &xtask::provision::compilers::LabCompilers { toolchains: Vec::new(), cross: Vec::new() },
        )
        .unwrap();
    let fresh = guest
        .exec(
            "test -z \"$(ls -A /nix/store 2>/dev/null)\" && ! ls /proc/sys/fs/binfmt_misc | grep -q qemu",
            Duration::from_secs(10),
        )
        .unwrap();
    assert!(fresh.succeeded(), "not a fresh store / binfmt_misc after reset: {}", fresh.output);

    let started = Instant::now();
    assert!(guest.exec("true", Duration::from_secs(10)).unwrap().succeeded());
    eprintln!("a command's round trip through the channel: {} ms", started.elapsed().as_millis());

    // Output survives the channel byte for byte where it is text, NULs
    // dropped as on the host; exit status and timeouts come back.
    let out =
        guest.exec("printf 'a\\0b\\n\\377'; echo \"$CROSSLAB_PAYLOADS\" >&2; exit 3", Duration::from_secs(10)).unwrap();
    assert_eq!(out.exit_code, Some(3));
    assert_eq!(out.output, "ab\n\u{fffd}/run/crosslab/payloads\n");
    let started = Instant::now();
    let slow = guest.exec("sleep 1000 & sleep 1000", Duration::from_secs(2)).unwrap();
    assert!(slow.timed_out && !slow.succeeded(), "{slow:?}");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    let after = guest
        .exec(
            "for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" != sleep ] || exit 1; done",
            Duration::from_secs(10),
        )
        .unwrap();
    assert!(after.succeeded(), "the timed-out command's processes survived: {}", after.output);

    let name = guest.name.clone();
    assert!(process_with(&name).is_some());
    guest.shutdown();
    assert_eq!(process_with(&name), None, "qemu survived shutdown");
}

#[test]
fn a_vm_that_does_not_come_up_is_killed_at_its_timeout() {
    common::test_packages();
    let (image, payloads) = image_and_payloads();
    let mut options = BootOptions::new(vm::Accel::Tcg);
    // No init: the kernel panics, and panic=0 makes it wait forever.
    options.extra_cmdline = "rdinit=/crosslab-no-such-init panic=0".to_owned();
    options.boot_timeout = Duration::from_secs(8);
    let started = Instant::now();
    let err = format!("{:#}", Guest::boot(&image, &payloads, &options).err().expect("a VM without init came up"));
    let took = started.elapsed();
    assert!(err.contains("did not come up within 8 s"), "{err}");
    assert!(err.contains("CROSSLAB_VM_BOOT_TIMEOUT"), "{err}");
    assert!(err.contains("guest console"), "the console's last lines explain it: {err}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_eq!(process_with(&vm_name_in(&err)), None, "qemu left behind");
}

#[test]
fn a_broken_image_is_reported_without_waiting_for_the_timeout() {
    common::test_packages();
    let (image, payloads) = image_and_payloads();
    let broken_dir = tempfile::tempdir().unwrap();
    std::fs::write(broken_dir.path().join("vmlinuz"), b"not a kernel").unwrap();
    for file in ["base.cpio", "root.img"] {
        std::os::unix::fs::symlink(image.dir.join(file), broken_dir.path().join(file)).unwrap();
    }
    let broken = Image { dir: broken_dir.path().to_path_buf(), manifest: image.manifest.clone() };
    let started = Instant::now();
    let err = format!(
        "{:#}",
        Guest::boot(&broken, &payloads, &BootOptions::new(vm::Accel::Tcg)).err().expect("booted a non-kernel")
    );
    assert!(err.contains("exited") && err.contains("before it came up"), "{err}");
    assert!(err.contains("qemu stderr"), "qemu's own complaint is shown: {err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(process_with(&vm_name_in(&err)), None, "qemu left behind");
}

#[test]
fn lab_run_backend_vm_reports_json_and_exits_2_when_the_vm_cannot_boot() {
    common::test_packages();
    let _ = image_and_payloads();
    let xtask = env!("CARGO_BIN_EXE_xtask");
    // Two labs as expected and one surprise: reported as the host backend
    // reports it, with its diagnosis, in JSON and in JUnit XML.
    let dir = tempfile::tempdir().unwrap();
    let surprise = dir.path().join("surprise.toml");
    std::fs::write(&surprise, "description = \"expects the reported bug to be gone\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n[[probe]]\nkind = \"build\"\n").unwrap();
    let junit = dir.path().join("junit.xml");
    let ran = Command::new(xtask)
        .args(["lab", "run", "--backend", "vm", "--json", "extra-platforms-unregistered", "non-nixos-aarch64-fix-f"])
        .arg(&surprise)
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("crosslab: VM up in"), "{stderr}");
    let labs: Vec<serde_json::Value> =
        String::from_utf8_lossy(&ran.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(labs.len(), 3);
    for lab in &labs {
        assert_eq!(lab["backend"], "vm");
        assert!(lab["guest"]["kernel"].as_str().unwrap().ends_with("-amd64"), "{lab}");
    }
    for lab in &labs[..2] {
        assert!(lab["probes"].as_array().unwrap().iter().all(|p| p["as_expected"] == true), "{lab}");
    }
    // The guest compiled with the aarch64 toolchain the host's cache shares.
    let compile =
        labs[1]["probes"].as_array().unwrap().iter().find(|p| p["kind"] == "compile").expect("a compile probe");
    assert_eq!(compile["outcome"], "pass", "{compile}");
    assert!(compile["compile"]["emulated_ms"].as_u64().unwrap() > 0, "{compile}");
    // …and timed it against Debian's cross compiler, run from the shared cache.
    assert!(compile["compile"]["cross_ms"].as_u64().is_some(), "{compile}");
    let build = &labs[2]["probes"][0];
    assert_eq!(build["as_expected"], false, "{build}");
    assert!(
        build["diagnosis"]["fix"]
            .as_str()
            .unwrap()
            .contains(r#"extra-sandbox-paths = ["/usr/bin/qemu-aarch64-static"]"#),
        "{build}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failures = doc.descendants().filter(|n| n.has_tag_name("failure")).count();
    assert_eq!(failures, 1, "{xml}");

    let failed = Command::new(xtask)
        .args(["lab", "run", "--backend", "vm", "non-nixos-aarch64"])
        .env("CROSSLAB_VM_BOOT_TIMEOUT", "1")
        .env("CROSSLAB_VM_ACCEL", "tcg")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("did not come up within 1 s"), "{stderr}");
    assert_eq!(process_with(&vm_name_in(&stderr)), None, "qemu left behind");
}

/// crosslab killed with SIGKILL while its VM runs: qemu dies with it.
#[test]
fn qemu_dies_with_a_killed_lab_run() {
    common::test_packages();
    use std::io::{BufRead, BufReader};
    let _ = image_and_payloads();
    let mut run = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["lab", "run", "--backend", "vm", "non-nixos-aarch64"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(run.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("crosslab: VM up") {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "lab run ended before its VM came up:\n{seen}");
        seen.push_str(&line);
    }
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", run.id())).unwrap();
    let qemu: Vec<String> = children
        .split_whitespace()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("crosslab-vm-"))
        })
        .map(str::to_owned)
        .collect();
    assert_eq!(qemu.len(), 1, "children of lab run: {children}");
    let cmdline = String::from_utf8_lossy(&std::fs::read(format!("/proc/{}/cmdline", qemu[0])).unwrap()).into_owned();
    let initrd = cmdline.split('\0').skip_while(|a| *a != "-initrd").nth(1).unwrap().to_owned();
    let run_dir = Path::new(&initrd).parent().unwrap().to_path_buf();
    run.kill().unwrap();
    run.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{}", qemu[0])).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!Path::new(&format!("/proc/{}", qemu[0])).exists(), "qemu {} outlived its lab run", qemu[0]);

    // Its temporary files are left; the next boot removes them once they
    // are over a minute old and unlocked.
    assert!(run_dir.is_dir());
    let status = Command::new("touch").args(["-d", "2 minutes ago"]).arg(&run_dir).status().unwrap();
    assert!(status.success());
    let (image, payloads) = image_and_payloads();
    let broken = Image { dir: PathBuf::from("/nonexistent"), manifest: image.manifest.clone() };
    assert!(Guest::boot(&broken, &payloads, &BootOptions::new(vm::Accel::Tcg)).is_err());
    assert!(!run_dir.exists(), "`{}` was not cleaned up", run_dir.display());
}

/// Issue: kernels before 6.7 (Debian 12's 6.1, Ubuntu 22.04's 5.15) have no
/// binfmt_misc namespaces. The guest runs Debian 12's kernel, so crosslab's
/// own binary, run there, must find none, pick the vm backend, and refuse
/// `--backend host` naming both ways out.
#[test]
fn on_a_kernel_without_binfmt_misc_namespaces_crosslab_picks_the_vm_backend() {
    common::test_packages();
    let (image, payloads) = image_and_payloads();
    // crosslab and a spec ride on the guest's payload disk.
    let carry = tempfile::tempdir().unwrap();
    let status = Command::new("cp").arg("-a").arg(payloads.join(".")).arg(carry.path()).status().unwrap();
    assert!(status.success());
    std::fs::copy(env!("CARGO_BIN_EXE_xtask"), carry.path().join("crosslab")).unwrap();
    std::fs::copy(
        xtask::labs_dir(&xtask::project_root()).join("non-nixos-aarch64.toml"),
        carry.path().join("non-nixos-aarch64.toml"),
    )
    .unwrap();
    let guest = boot(&image, carry.path());
    let run = |command: &str| {
        let done = guest.exec(command, Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e:#}"));
        (done.exit_code, done.output)
    };
    let (_, doctor) = run("\"$CROSSLAB_PAYLOADS\"/crosslab lab doctor 2>&1");
    let release = guest.kernel_release.clone();
    assert!(release.starts_with("6.1."), "the guest runs Debian 12's kernel: {release}");
    assert!(
        doctor.contains(&format!("Linux {release} has no binfmt_misc namespaces (they came in 6.7)"))
            && doctor.contains("`lab run` picks the vm backend"),
        "doctor in the guest:\n{doctor}"
    );
    let (status, refused) = run(
        "\"$CROSSLAB_PAYLOADS\"/crosslab lab run --backend host \"$CROSSLAB_PAYLOADS\"/non-nixos-aarch64.toml 2>&1",
    );
    assert_eq!(status, Some(2), "--backend host on 6.1:\n{refused}");
    assert!(refused.contains("has no binfmt_misc namespaces"), "{refused}");
    assert!(refused.contains("--backend vm") && refused.contains("--allow-global"), "{refused}");
    // Without --backend it picks vm, saying why in one line (running a VM
    // nested in this TCG guest is not the point here: it stops after that).
    let (_, auto) = run("\"$CROSSLAB_PAYLOADS\"/crosslab lab run \"$CROSSLAB_PAYLOADS\"/non-nixos-aarch64.toml 2>&1");
    let said: Vec<&str> = auto.lines().filter(|l| l.starts_with("crosslab: backend ")).collect();
    assert_eq!(said.len(), 1, "{auto}");
    assert!(
        said[0].starts_with(&format!("crosslab: backend vm: Linux {release} has no binfmt_misc namespaces")),
        "{auto}"
    );
    guest.shutdown();
}

/// `--stack trixie` boots a Debian 13 guest (its kernel's modules are
/// xz-compressed, which the initramfs must undo) and gives the reported
/// bug's verdicts there too, with trixie's Nix and qemu.
#[test]
fn the_trixie_stack_boots_a_debian_13_guest_with_the_same_verdicts() {
    common::test_packages();
    let _ = image_and_payloads();
    let ran = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["lab", "run", "--backend", "vm", "--stack", "trixie", "--json", "non-nixos-aarch64"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(0), "{stderr}");
    let lab: serde_json::Value = serde_json::from_slice(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(lab["backend"], "vm");
    assert_eq!(lab["versions"]["stack"], "trixie", "{lab}");
    let kernel = lab["guest"]["kernel"].as_str().unwrap();
    assert!(kernel.contains("deb13"), "a Debian 13 kernel: {kernel}");
    assert!(lab["versions"]["nix"].as_str().unwrap().starts_with("2.26"), "trixie's Nix: {lab}");
    let probes = lab["probes"].as_array().unwrap();
    assert!(probes.iter().all(|p| p["as_expected"] == true), "{lab}");
    assert!(probes.iter().any(|p| p["kind"] == "build" && p["outcome"] == "fail"), "the reported bug: {lab}");
}

/// nix#6473 in an arm64 guest under qemu-system-aarch64 (TCG): on a CPU
/// without AArch32 (`-cpu a64fx`) Nix's 32-bit personality is refused with
/// the report's text, though qemu-arm runs the armv7l program; on one with it
/// (`-cpu cortex-a72`) the armv7l build runs natively and passes, printing
/// the arm64 kernel's 32-bit `uname -m`. `lab run` puts them in VMs by
/// itself, beside a lab of this machine's that runs on the host backend in
/// the same run; asked for the host backend, it refuses, naming `--backend vm`.
#[test]
fn an_aarch64_host_builds_armv7l_only_with_a_cpu_that_has_aarch32() {
    common::test_packages();
    let labs = ["nix-6473-aarch64-no-aarch32", "nix-6473-aarch64-aarch32-native"];
    let refused =
        Command::new(env!("CARGO_BIN_EXE_xtask")).args(["lab", "run", "--backend", "host", labs[0]]).output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("aarch64-linux host") && stderr.contains("--backend vm"), "{stderr}");

    // With a NixOS aarch64 host emulating x86_64 (its static P wrapper,
    // built for aarch64, execs the dynamically linked qemu-x86_64), which
    // shares the cortex-a72 guest.
    let ran = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["lab", "run", "--json", "non-nixos-aarch64-fix-f"])
        .args(labs)
        .arg("nixos-aarch64-emulates-x86-64")
        .args(["nix-community-infra-1916-system-feature", "nix-community-infra-1916-system-feature-fix"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&format!("backend vm for {}, {}", labs[0], labs[1])), "{stderr}");
    let mut reports: Vec<serde_json::Value> = String::from_utf8_lossy(&ran.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(reports.len(), 6, "{stderr}");
    assert_eq!(stderr.matches("VM up in").count(), 2, "one guest per CPU: {stderr}");
    // This machine's lab ran on this machine's kernel, in the same run.
    let own = reports.remove(0);
    assert_eq!(
        (own["lab"].as_str(), own["backend"].as_str()),
        (Some("non-nixos-aarch64-fix-f"), Some("host")),
        "{own}"
    );
    assert!(own["probes"].as_array().unwrap().iter().all(|p| p["as_expected"] == true), "{own}");
    let build = |lab: &serde_json::Value| -> serde_json::Value {
        assert_eq!(lab["backend"], "vm");
        assert!(lab["guest"]["kernel"].as_str().unwrap().contains("arm64"), "an arm64 guest: {lab}");
        lab["probes"].as_array().unwrap().iter().find(|p| p["kind"] == "build").cloned().unwrap()
    };
    let a64fx = build(&reports[0]);
    assert_eq!(a64fx["outcome"], "fail", "{a64fx}");
    assert!(a64fx["output"].as_str().unwrap().contains("cannot set 32-bit personality: Invalid argument"), "{a64fx}");
    let nixos = build(&reports[2]);
    assert_eq!(nixos["outcome"], "pass", "{nixos}");
    assert!(nixos["output"].as_str().unwrap().lines().any(|l| l.trim() == "x86_64"), "{nixos}");
    // infra#1916 on the aarch64 builder: armv7l is native there, but the
    // build requires a feature the builder does not offer, in Nix's words
    // about the machine it is; offered, it builds.
    let feature = build(&reports[3]);
    let said = feature["output"].as_str().unwrap();
    assert_eq!(feature["outcome"], "fail", "{feature}");
    assert!(
        said.contains("with features {gccarch-armv7-a} is required") && said.contains("I am a 'aarch64-linux'"),
        "{said}"
    );
    assert_eq!(build(&reports[4])["outcome"], "pass", "{}", reports[4]);
    let a72 = build(&reports[1]);
    assert_eq!(a72["outcome"], "pass", "{a72}");
    assert!(a72["output"].as_str().unwrap().contains("armv8l"), "{a72}");
    for lab in &reports {
        assert!(lab["probes"].as_array().unwrap().iter().all(|p| p["as_expected"] == true), "{lab}");
    }
}
