//! `lab shell`: a shell inside a lab, after its binfmt_misc registrations
//! and Nix set-up, with the environment its probes see (`CROSSLAB_SYSTEM`,
//! `CROSSLAB_PAYLOADS`, `NIX_CONF_DIR`, …), so a user can try commands by
//! hand, on the backend `lab run` would use: an interactive shell in the
//! lab's namespaces on the host backend; on the vm backend (kernels before
//! 6.7) commands over the guest's command channel, one at a time. Leaving
//! the shell tears the lab down as `lab run` does.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use xshell::Shell;

use crate::flags;
use crate::plan::Plan;
use crate::provision::stack::Stack;
use crate::quote;
use crate::run::{self, Executor};
use crate::spec;
use crate::systems::NixSystem;

impl flags::LabShell {
    pub fn run(self, root: &Path) -> anyhow::Result<ExitCode> {
        let path = spec::resolve(&crate::labs_dir(root), &self.lab);
        let lab = spec::load(&path)?;
        let system: &'static NixSystem = match &self.system {
            None => lab.systems[0],
            Some(name) => match NixSystem::find(name) {
                Some(s) if lab.systems.contains(&s) => s,
                Some(_) | None => bail!(
                    "--system {name}: lab `{}` emulates {}\n  help: give one of its systems",
                    lab.name,
                    lab.systems.iter().map(|s| s.double).collect::<Vec<_>>().join(", ")
                ),
            },
        };
        let plan = Plan::new(&lab, std::env::consts::ARCH);
        let stack = crate::provision::stack::Stack::find(&self.stack)?;
        match run::choose_backend(self.backend, false, &[&plan])? {
            flags::Backend::Host => host_shell(&plan, system, stack),
            flags::Backend::Vm => vm_shell(&plan, system, stack),
            flags::Backend::Nixos => bail!(
                "--backend nixos: `lab shell` runs on the host or vm backend\n  help: `cargo xtask lab run {} --backend nixos --interactive` gives the NixOS test driver's prompt",
                lab.name
            ),
        }
    }
}

/// What the shell says first, on stderr: where it is and how to leave.
fn greeting(plan: &Plan, system: &NixSystem, backend: &str) -> String {
    let registered: Vec<String> =
        plan.registrations.iter().map(|r| format!("{} ({} `{}`)", r.name, r.interpreter, r.flags)).collect();
    format!(
        "crosslab: shell in lab {} for {}{backend}: binfmt_misc {}; Nix reads $NIX_CONF_DIR/nix.conf (sandbox = {}); payloads in $CROSSLAB_PAYLOADS. Leave the shell to tear the lab down.",
        plan.lab.name,
        system.double,
        if registered.is_empty() { "has nothing registered".to_owned() } else { format!("has {}", registered.join(", ")) },
        plan.nix_conf.sandbox
    )
}

/// An interactive shell in the lab's namespaces on this machine.
fn host_shell(plan: &Plan, system: &'static NixSystem, stack: &'static Stack) -> anyhow::Result<ExitCode> {
    let lab = plan.lab;
    let sh = Shell::new()?;
    let global_binfmt = run::preflight(false)?;
    let payloads = run::prepare_host(&sh, &[plan], stack)?;
    let env = run::HostEnv { payloads, global_binfmt, lower: stack.lower_root(&sh)?, suite: stack.suite };
    let ns = run::start_host(plan, &env)?;
    // The order of `run_plan`: daemon, entries, machine state.
    run::executor::start_daemon(plan, &ns)?;
    run::register(plan, &ns)?;
    run::executor::apply_machine_state(plan, &ns)?;

    let interactive = std::io::stdin().is_terminal();
    eprintln!("{}", greeting(plan, system, ""));
    let shell = if Path::new("/bin/bash").exists() { "/bin/bash" } else { "/bin/sh" };
    let mut args: Vec<&str> = Vec::new();
    if shell == "/bin/bash" {
        args.extend(["--norc", "--noprofile"]);
    }
    if interactive {
        args.push("-i");
    }
    let mut command = ns.interactive(shell, &args);
    command.env("CROSSLAB_SYSTEM", system.double).env("PS1", format!("[lab {} {}] \\w# ", lab.name, system.double));
    if let Some(term) = std::env::var_os("TERM") {
        command.env("TERM", term);
    }
    let status = command.status().context("could not execute `nsenter` (util-linux)")?;
    ns.stop()?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(1),
    })
}

/// How long one command of the vm backend's shell may run.
const VM_COMMAND_TIMEOUT: Duration = Duration::from_secs(3600);

/// A shell in the VM lab over the guest's command channel, which runs one
/// command at a time to its end (no terminal, stdin /dev/null, output shown
/// when it ends): piped stdin is one script, a terminal is read line by
/// line, each line a command of its own (`cd` and variables do not carry
/// over; `exit [N]` leaves).
fn vm_shell(plan: &Plan, system: &'static NixSystem, stack: &'static Stack) -> anyhow::Result<ExitCode> {
    let session = run::Session::start(flags::Backend::Vm, stack, &[plan], false)?;
    let guest = session.guest_for(plan)?.expect("a vm session has a guest");
    let started = run::vm::set_up_lab(plan, guest)
        .and_then(|()| run::executor::start_daemon(plan, guest))
        .and_then(|()| run::register(plan, guest))
        .and_then(|()| run::executor::apply_machine_state(plan, guest));
    if let Err(e) = started {
        session.finish();
        return Err(e);
    }
    let prelude = format!("CROSSLAB_SYSTEM={}; export CROSSLAB_SYSTEM\n", quote::sh(system.double));
    let run_in_lab = |script: &str| -> anyhow::Result<u8> {
        let done = Executor::exec(guest, &format!("{prelude}{script}"), VM_COMMAND_TIMEOUT)?;
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(done.output.as_bytes())?;
        stdout.flush()?;
        Ok(match (done.timed_out, done.exit_code) {
            (true, _) => {
                eprintln!("crosslab: stopped after {} s", VM_COMMAND_TIMEOUT.as_secs());
                124
            }
            (false, Some(code)) => u8::try_from(code).unwrap_or(1),
            (false, None) => 128 + done.signal.and_then(|s| u8::try_from(s).ok()).unwrap_or(0),
        })
    };
    let interactive = std::io::stdin().is_terminal();
    eprintln!("{}", greeting(plan, system, &format!(" in the VM (Linux {})", guest.kernel_release)));
    let result = if interactive {
        eprintln!(
            "crosslab: each line runs as a command of its own in the VM, its output shown when it ends; `exit` leaves"
        );
        let mut status = 0;
        let mut lines = std::io::stdin().lock().lines();
        loop {
            eprint!("[lab {} {} vm]# ", plan.lab.name, system.double);
            let Some(line) = lines.next().transpose()? else { break Ok(status) };
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [] => continue,
                ["exit"] => break Ok(status),
                ["exit", n] if n.parse::<u8>().is_ok() => break Ok(n.parse::<u8>().expect("parsed")),
                _ => match run_in_lab(&line) {
                    Ok(s) => status = s,
                    Err(e) => break Err(e),
                },
            }
        }
    } else {
        let mut script = String::new();
        std::io::stdin().read_to_string(&mut script).context("could not read the script on stdin")?;
        run_in_lab(&script)
    };
    session.finish();
    Ok(ExitCode::from(result?))
}
