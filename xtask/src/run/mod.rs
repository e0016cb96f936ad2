//! `lab run`: executing a plan's probes on a backend and judging each outcome
//! against the spec's expectation.

pub mod compilers;
pub mod cross;
pub mod host;
pub mod idmap;
pub mod nixos;
pub mod payload;
pub mod prereq;
pub mod process;
pub mod rootfs;
pub mod stack;
pub mod toolchain;
pub mod vm;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use xshell::Shell;

use crate::flags;
use crate::outcome::Execution;
use crate::outcome::{LabReport, Verdict};
use crate::plan::Plan;
use crate::report;
use crate::spec::ProbeKind;
use crate::systems::NixSystem;

/// The lab `lab run` runs when given none: the reported non-NixOS sandbox issue.
pub const DEFAULT_LAB: &str = "non-nixos-aarch64";

impl flags::Run {
    pub fn run(self, root: &Path) -> anyhow::Result<ExitCode> {
        if self.backend == Some(flags::Backend::Nixos) {
            return nixos::run_labs(&self, root);
        }
        let args = if self.labs.is_empty() { vec![DEFAULT_LAB.to_owned()] } else { self.labs.clone() };
        let labs = crate::load_labs(root, &args)?;
        let mut plans: Vec<Plan> = labs.iter().map(|l| Plan::new(l, std::env::consts::ARCH)).collect();
        for plan in &mut plans {
            self.selection().apply(plan)?;
        }
        let backend = choose_backend(self.backend, self.allow_global)?;
        let stack = stack::Stack::find(&self.stack)?;
        let session = Session::start(backend, stack, &plans.iter().collect::<Vec<_>>(), self.allow_global)?;
        let code = run_and_report(
            &self,
            &plans,
            |plan, on_verdict| session.run(plan, on_verdict),
            |plan, report| Ok(serde_json::to_string(&session.to_json(plan, report)?)?),
        )?;
        session.finish();
        Ok(code)
    }
}

/// The backend `lab run` and `lab matrix` use: the one asked for, else
/// `host` where this kernel and user can mount a private binfmt_misc, else
/// `vm`; the choice is said in one line.
pub fn choose_backend(asked: Option<flags::Backend>, allow_global: bool) -> anyhow::Result<flags::Backend> {
    if let Some(backend) = asked {
        return Ok(backend);
    }
    if allow_global {
        return Ok(flags::Backend::Host);
    }
    Ok(match private_binfmt_misc() {
        Ok(why) => {
            eprintln!("crosslab: backend host: {why}");
            flags::Backend::Host
        }
        Err(why) => {
            eprintln!(
                "crosslab: backend vm: {why}, so labs run in a VM with a kernel of their own (--backend host --allow-global would use the host's binfmt_misc instead)"
            );
            flags::Backend::Vm
        }
    })
}

/// Whether a lab can have a binfmt_misc of its own here (Ok: how), tried
/// for real: a user namespace mounts binfmt_misc, which works on kernels
/// with binfmt_misc namespaces (Linux ≥ 6.7) where user namespaces are
/// allowed. `CROSSLAB_ASSUME_NO_BINFMT_NS` makes it say no, for the tests.
pub fn private_binfmt_misc() -> Result<String, String> {
    // Asked by the backend choice and by the host backend's preflight: tried once.
    static TRIED: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    TRIED.get_or_init(try_private_binfmt_misc).clone()
}

fn try_private_binfmt_misc() -> Result<String, String> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim();
    if std::env::var_os("CROSSLAB_ASSUME_NO_BINFMT_NS").is_some() {
        return Err(format!(
            "Linux {release} is taken to have no binfmt_misc namespaces (CROSSLAB_ASSUME_NO_BINFMT_NS)"
        ));
    }
    let tried = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "--", "/bin/sh", "-c"])
        .arg(format!("mount -t binfmt_misc binfmt_misc {}", crate::plan::BINFMT_DIR))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output();
    match tried {
        Ok(out) if out.status.success() => Ok(format!("Linux {release} mounts a private binfmt_misc for each lab")),
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("unshare failed") => {
            Err(format!("this user cannot make user namespaces on Linux {release}"))
        }
        Ok(_) if !kernel_at_least(release, 6, 7) => {
            Err(format!("Linux {release} has no binfmt_misc namespaces (they came in 6.7)"))
        }
        Ok(out) => Err(format!(
            "Linux {release} would not mount a private binfmt_misc: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("could not execute `unshare` (util-linux): {e}")),
    }
}

/// Labs running on one backend and stack: what was prepared once (payloads,
/// the stack's root, a booted guest) for every lab of a `lab run` or `lab matrix`.
pub struct Session {
    pub versions: crate::outcome::Versions,
    on: SessionBackend,
}

enum SessionBackend {
    Host(HostEnv),
    Vm(vm::Guest),
}

impl Session {
    /// Prepares `backend` with `stack` for `plans`: checks and installs
    /// prerequisites, builds the stack's root, fetches payloads, boots the guest.
    pub fn start(
        backend: flags::Backend,
        stack: &'static stack::Stack,
        plans: &[&Plan],
        allow_global: bool,
    ) -> anyhow::Result<Session> {
        let sh = Shell::new()?;
        match backend {
            flags::Backend::Host => {
                let global_binfmt = preflight(allow_global)?;
                let payloads = prepare_host(&sh, plans, stack)?;
                let lower = stack.lower_root(&sh)?;
                let versions = crate::outcome::Versions::of(stack, &lower);
                let env = HostEnv { payloads, global_binfmt, lower, suite: stack.suite };
                Ok(Session { versions, on: SessionBackend::Host(env) })
            }
            flags::Backend::Vm => {
                if allow_global {
                    bail!("--allow-global is for the host backend; the vm backend registers in its own guest kernel");
                }
                let guest = vm::boot_for(&sh, plans, stack.suite.unwrap_or(vm::image::SUITE))?;
                let versions = vm::versions(&guest, stack);
                Ok(Session { versions, on: SessionBackend::Vm(guest) })
            }
            flags::Backend::Nixos => {
                bail!("the nixos backend runs labs with `lab run --backend nixos` (one nix build per lab), not here")
            }
        }
    }

    /// Runs one lab, calling `on_verdict` as each probe ends.
    pub fn run(&self, plan: &Plan, on_verdict: &mut dyn FnMut(&Verdict)) -> anyhow::Result<LabReport> {
        let mut report = self.run_on_backend(plan, on_verdict)?;
        report.versions = Some(self.versions.clone());
        Ok(report)
    }

    fn run_on_backend(&self, plan: &Plan, on_verdict: &mut dyn FnMut(&Verdict)) -> anyhow::Result<LabReport> {
        match &self.on {
            SessionBackend::Host(env) => {
                run_on_host(plan, env, on_verdict).with_context(|| format!("lab `{}` could not run", plan.lab.name))
            }
            SessionBackend::Vm(guest) => vm::run_vm(plan, guest, on_verdict)
                .with_context(|| format!("lab `{}` could not run in the VM", plan.lab.name)),
        }
    }

    /// A lab's `--json` object: diagnosed verdicts, the stack and its
    /// versions, plus the guest for the vm backend.
    pub fn to_json(&self, plan: &Plan, report: &LabReport) -> anyhow::Result<serde_json::Value> {
        let mut value = match &self.on {
            SessionBackend::Host(_) => serde_json::to_value(report.to_json_diagnosed(plan))?,
            SessionBackend::Vm(guest) => vm::to_json(plan, report, guest)?,
        };
        value["versions"] = serde_json::to_value(&self.versions)?;
        Ok(value)
    }

    /// The backend's name, as its reports say it.
    pub fn backend_name(&self) -> &'static str {
        match &self.on {
            SessionBackend::Host(_) => "host",
            SessionBackend::Vm(_) => "vm",
        }
    }

    /// Ends the session (shuts the guest down).
    pub fn finish(self) {
        if let SessionBackend::Vm(guest) = self.on {
            guest.shutdown();
        }
    }
}

/// What the host backend prepared for its labs.
pub struct HostEnv {
    /// The payload cache.
    pub payloads: PathBuf,
    /// Register in the host's binfmt_misc (`--allow-global`).
    pub global_binfmt: bool,
    /// The stack's root filesystem: `/` for the host stack.
    pub lower: PathBuf,
    /// The stack's Debian suite (none for the host stack), whose cross
    /// compilers the compile probes are timed against.
    pub suite: Option<&'static str>,
}

/// Runs each plan with `run_lab` and reports it as `lab run` does on every
/// backend: the terminal report while it runs (or one `--json` line per
/// lab, from `to_json`), then `--junit`; exit status 0 when every probe was
/// as expected, else 1.
pub fn run_and_report(
    flags: &flags::Run,
    plans: &[Plan],
    mut run_lab: impl FnMut(&Plan, &mut dyn FnMut(&Verdict)) -> anyhow::Result<LabReport>,
    to_json: impl Fn(&Plan, &LabReport) -> anyhow::Result<String>,
) -> anyhow::Result<ExitCode> {
    let mut terminal = report::Terminal::stdout(!flags.json && report::is_interactive()).verbose(flags.verbose);
    let mut reports = Vec::new();
    for plan in plans {
        if !flags.json {
            terminal.lab_started(plan);
        }
        let lab_report = run_lab(plan, &mut |v| {
            if !flags.json {
                terminal.verdict(plan, v);
            }
        })?;
        if flags.json {
            println!("{}", to_json(plan, &lab_report)?);
        } else {
            terminal.lab_finished(plan, &lab_report);
        }
        reports.push(lab_report);
    }
    if let Some(path) = &flags.junit {
        report::junit::write(path, &plans.iter().zip(&reports).collect::<Vec<_>>())?;
    }
    let all_as_expected = reports.iter().all(|r| r.all_as_expected());
    Ok(if all_as_expected { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The programs the host backend runs, besides the labs' emulators.
pub const HOST_TOOLS: &[&str] = &["unshare", "nsenter", "setarch", "nix", "nix-build", "apt-get", "dpkg-deb"];

/// The programs the host backend runs from the host itself whatever the
/// stack: the lab's set-up and fetching payloads.
pub const SETUP_TOOLS: &[&str] = &["unshare", "nsenter", "apt-get", "dpkg-deb"];

/// Installs what the host backend needs for `plans` on `stack` (programs,
/// and for the host stack Nix and the emulators) and fetches their payloads;
/// returns the payload directory.
pub fn prepare_host(sh: &Shell, plans: &[&Plan], stack: &stack::Stack) -> anyhow::Result<PathBuf> {
    let tools = if stack.is_host() { HOST_TOOLS } else { SETUP_TOOLS };
    let mut programs: Vec<String> = tools.iter().map(|p| (*p).to_owned()).collect();
    if stack.is_host() {
        programs.extend(
            plans.iter().flat_map(|p| p.registrations.iter().map(|r| r.system.fhs_emulator(p.lab.binfmt.emulator))),
        );
    }
    programs.sort();
    programs.dedup();
    prereq::ensure(sh, &programs)?;
    compilers::prepare(sh, plans, stack.suite)?;
    payload::ensure(sh, &payload_systems(plans))
}

/// The systems and languages some `compile` probe of `plans` compiles for.
pub fn compile_toolchains(plans: &[&Plan]) -> Vec<(&'static NixSystem, crate::spec::Language)> {
    let mut wanted: Vec<(&'static NixSystem, crate::spec::Language)> = plans
        .iter()
        .flat_map(|p| &p.probes)
        .filter(|p| p.kind == ProbeKind::Compile)
        .map(|p| (p.system, p.language))
        .collect();
    wanted.sort_by_key(|(s, l)| (s.double, l.as_str()));
    wanted.dedup();
    wanted
}

/// The systems whose static payload some probe of `plans` runs.
pub fn payload_systems(plans: &[&Plan]) -> Vec<&'static NixSystem> {
    let mut systems: Vec<&'static NixSystem> = plans
        .iter()
        .flat_map(|p| &p.probes)
        .filter(|p| matches!(p.kind, ProbeKind::Exec | ProbeKind::Build | ProbeKind::Compile | ProbeKind::Command))
        .map(|p| p.payload)
        .collect();
    systems.sort_by_key(|s| s.double);
    systems.dedup();
    systems
}

/// Checks what the host backend needs from the kernel and the user; returns
/// whether binfmt_misc must be the host's global instance.
pub fn preflight(allow_global: bool) -> anyhow::Result<bool> {
    if !cfg!(target_os = "linux") {
        bail!("the host backend needs Linux (binfmt_misc, user namespaces)");
    }
    let is_root = unsafe { libc::geteuid() } == 0;
    if !is_root && allow_global {
        bail!("--allow-global registers in the host's binfmt_misc, which only root may do\n  help: sudo -E cargo xtask lab run --allow-global …");
    }
    if !is_root {
        // Without root the lab's user namespace is mapped by newuidmap.
        idmap::IdMap::for_current_user()?;
    }
    match (private_binfmt_misc(), allow_global) {
        (Ok(_), _) => Ok(false),
        (Err(why), true) => {
            eprintln!(
                "crosslab: {why}: registering in the host's binfmt_misc (--allow-global); its entries are saved, cleared for the lab, and restored when the lab ends"
            );
            Ok(true)
        }
        (Err(why), false) => bail!(
            "{why}, so the host backend cannot register emulators without touching the host\n  help: use --backend vm (a Debian VM with its own kernel; what `lab run` picks without --backend), or --allow-global (root) to register in the host's binfmt_misc and restore its entries afterwards"
        ),
    }
}

/// Whether a kernel release string like `6.18.44-fc` is at least `major.minor`.
pub fn kernel_at_least(release: &str, major: u32, minor: u32) -> bool {
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().unwrap_or(0));
    let (ma, mi) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (ma, mi) >= (major, minor)
}

/// Runs one lab on the host backend and the host stack, calling
/// `on_verdict` as each probe ends.
pub fn run_host(
    plan: &Plan,
    payloads: &Path,
    global_binfmt: bool,
    on_verdict: &mut dyn FnMut(&Verdict),
) -> anyhow::Result<LabReport> {
    let env = HostEnv { payloads: payloads.to_path_buf(), global_binfmt, lower: PathBuf::from("/"), suite: None };
    run_on_host(plan, &env, on_verdict)
}

/// Runs one lab on the host backend as `env` says, calling `on_verdict` as
/// each probe ends.
pub fn run_on_host(plan: &Plan, env: &HostEnv, on_verdict: &mut dyn FnMut(&Verdict)) -> anyhow::Result<LabReport> {
    let ns = start_host(plan, env)?;
    let verdicts = run_plan(plan, &ns, on_verdict)?;
    ns.stop()?;
    Ok(LabReport { lab: plan.lab.name.clone(), backend: "host", verdicts, versions: None })
}

/// Starts a lab's namespaces on the host backend with its Nix set-up (and a
/// simulated NixOS's links), before anything is registered: `lab run` and
/// `lab shell` start a lab the same way.
pub fn start_host(plan: &Plan, env: &HostEnv) -> anyhow::Result<host::HostLab> {
    let nixos = plan.nixos_simulation(&mut |program| crate::plan::shared_objects_in(&env.lower, program))?;
    let on_host_stack = env.lower == Path::new("/");
    let mut setup = host::Setup {
        lower: env.lower.clone(),
        payloads: env.payloads.clone(),
        nix_conf: plan.nix_conf.to_nix_conf(&nixos.extra_sandbox_paths),
        links: nixos.links,
        global_binfmt: env.global_binfmt,
        // A stack's own Nix is in its root; the host's may be in /nix/store.
        host_nix: if on_host_stack { host::HostNix::find()? } else { None },
        cache: None,
        store_trees: Vec::new(),
        files: Vec::new(),
    };
    // The compile probes' compilers (made by prepare_host; found in the cache here).
    let compilers = compilers::LabCompilers::of(plan, env.suite)?;
    if compilers.needs_cache() {
        setup.cache = Some(payload::cache_dir()?);
        setup.store_trees = compilers.store_binds();
        setup.links.extend(compilers.links());
        setup.files = compilers.files();
    }
    let ns = host::HostLab::start(&setup)?;
    compilers.register(&ns)?;
    Ok(ns)
}

/// Somewhere a lab's shell commands run: the host's namespaces, a VM.
pub trait Executor {
    /// Runs `command` under `/bin/sh -c` for at most `timeout`; the
    /// environment is the backend's (it provides `CROSSLAB_PAYLOADS`).
    fn exec(&self, command: &str, timeout: Duration) -> anyhow::Result<Execution>;
}

/// Registers the plan's binfmt entries (fhs and simulated NixOS alike), then
/// runs every probe in order, calling `on_verdict` as each one ends.
pub fn run_plan(
    plan: &Plan,
    executor: &dyn Executor,
    on_verdict: &mut dyn FnMut(&Verdict),
) -> anyhow::Result<Vec<Verdict>> {
    register(plan, executor)?;
    let mut verdicts = Vec::new();
    for probe in &plan.probes {
        let execution = executor.exec(&probe.command, probe.timeout)?;
        let verdict = crate::outcome::judge(probe, execution);
        on_verdict(&verdict);
        verdicts.push(verdict);
    }
    Ok(verdicts)
}

/// Registers the plan's binfmt entries (fhs and simulated NixOS alike).
pub fn register(plan: &Plan, executor: &dyn Executor) -> anyhow::Result<()> {
    for reg in &plan.registrations {
        let done = executor.exec(&reg.command(), Duration::from_secs(10))?;
        if !done.succeeded() {
            bail!("registering `{}` failed: {}", reg.line(), done.output.trim());
        }
        fault_point("registration");
    }
    Ok(())
}

/// Fault injection for the tests: with `CROSSLAB_FAULT_PAUSE=<point>` in the
/// environment, crosslab announces the point on stderr and stops there for a
/// minute, so a test can SIGKILL it at a known moment. Points:
/// `registration` (after the first binfmt entry), `cleanup` (the lab's
/// namespaces are being torn down).
pub fn fault_point(point: &str) {
    if std::env::var("CROSSLAB_FAULT_PAUSE").is_ok_and(|p| p == point) {
        eprintln!("crosslab: paused at {point}");
        std::thread::sleep(Duration::from_secs(60));
    }
}
