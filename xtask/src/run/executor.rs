//! What every backend runs a lab through: an [`Executor`] (the host's
//! namespaces, a VM guest) that runs shell commands, and the steps that are
//! the same on each: register the plan's binfmt entries, make the compile
//! toolchains valid store paths, run each probe and judge it.

use std::time::Duration;

use anyhow::bail;

use crate::outcome::{Execution, Verdict};
use crate::plan::Plan;
use crate::provision::compilers::LabCompilers;

/// Somewhere a lab's shell commands run: the host's namespaces, a VM.
pub trait Executor {
    /// Runs `command` under `/bin/sh -c` for at most `timeout`; the
    /// environment is the backend's (it provides `CROSSLAB_PAYLOADS`).
    fn exec(&self, command: &str, timeout: Duration) -> anyhow::Result<Execution>;

    /// How long a probe with the spec's `timeout` may run here: the spec's,
    /// unless the backend is known to be slower (a VM under TCG).
    fn probe_timeout(&self, timeout: Duration) -> Duration {
        timeout
    }
}

/// Starts the lab's daemon, registers the plan's binfmt entries (fhs and
/// simulated NixOS alike), then runs every probe in order, judged as its
/// expectation holds for a run known by `keys` (its stack, its Nix:
/// [`crate::outcome::Versions::keys`]), calling `on_verdict` as each one ends.
pub fn run_plan(
    plan: &Plan,
    executor: &dyn Executor,
    keys: &[String],
    on_verdict: &mut dyn FnMut(&Verdict),
) -> anyhow::Result<Vec<Verdict>> {
    // The daemon first: an entry can take over every native exec in the
    // lab (the host's own system before NixOS's assertion, nixpkgs#218465),
    // and the daemon is started natively or through qemu named explicitly.
    start_daemon(plan, executor)?;
    register(plan, executor)?;
    apply_machine_state(plan, executor)?;
    let mut verdicts = Vec::new();
    for probe in &plan.probes {
        let execution = executor.exec(&plan.command_to_run(probe), executor.probe_timeout(probe.timeout))?;
        let verdict = crate::outcome::judge(&probe.on(keys), execution);
        on_verdict(&verdict);
        verdicts.push(verdict);
    }
    Ok(verdicts)
}

/// The system of an entry `plan` registers for the machine's own system
/// (NixOS before its assertion, nixpkgs#218465): every native exec under
/// that binfmt_misc goes through it and fails, so only a binfmt_misc
/// private to the lab may get it.
pub fn own_system_entry(plan: &Plan) -> Option<&'static str> {
    let own = crate::systems::own_system(plan.host_arch)?;
    plan.registrations.iter().any(|r| r.system == own).then_some(own.double)
}

/// Makes the toolchains bound into the lab's fresh store valid paths there.
pub fn register_compilers(compilers: &LabCompilers, executor: &dyn Executor) -> anyhow::Result<()> {
    if let Some(command) = compilers.register_command() {
        let done = executor.exec(&command, Duration::from_secs(60))?;
        if !done.succeeded() {
            bail!("registering the toolchains in the lab's store failed: {}", done.output.trim());
        }
    }
    Ok(())
}

/// In daemon mode, makes the lab's build users and client and starts
/// `nix-daemon` as root (after the toolchains are registered in the store
/// and before any probe).
pub fn start_daemon(plan: &Plan, executor: &dyn Executor) -> anyhow::Result<()> {
    if let Some(daemon) = &plan.nix_conf.daemon {
        let done = executor.exec(&daemon.start_script(), Duration::from_secs(30))?;
        if !done.succeeded() {
            bail!("starting the lab's nix-daemon failed: {}", done.output.trim());
        }
    }
    Ok(())
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

/// Puts the lab's machine in the state its `[machine]` describes, once its
/// entries are registered (a host whose `/run/binfmt` went away after boot
/// still has the entries made at boot). The vm guest's reset undoes it for
/// the next lab; the host backend's namespaces end with the lab.
pub fn apply_machine_state(plan: &Plan, executor: &dyn Executor) -> anyhow::Result<()> {
    if let Some(command) = plan.machine.command() {
        let done = executor.exec(&command, Duration::from_secs(10))?;
        if !done.succeeded() {
            bail!("putting the machine in the state `[machine]` describes failed: {}", done.output.trim());
        }
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
