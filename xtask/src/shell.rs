//! `lab shell`: an interactive shell inside a lab's namespaces on the host
//! backend, after its binfmt_misc registrations and Nix set-up, with the
//! environment its probes see (`CROSSLAB_SYSTEM`, `CROSSLAB_PAYLOADS`,
//! `NIX_CONF_DIR`, …), so a user can try commands by hand. Leaving the shell
//! tears the lab down as `lab run` does.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use xshell::Shell;

use crate::flags;
use crate::plan::Plan;
use crate::run;
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
        let sh = Shell::new()?;
        let global_binfmt = run::preflight(false)?;
        let payloads = run::prepare_host(&sh, &[&plan], stack)?;
        let env = run::HostEnv { payloads, global_binfmt, lower: stack.lower_root(&sh)?, suite: stack.suite };
        let ns = run::start_host(&plan, &env)?;
        run::register(&plan, &ns)?;
        run::executor::start_daemon(&plan, &ns)?;

        let interactive = std::io::stdin().is_terminal();
        let registered: Vec<String> =
            plan.registrations.iter().map(|r| format!("{} ({} `{}`)", r.name, r.interpreter, r.flags)).collect();
        eprintln!(
            "crosslab: shell in lab {} for {}: binfmt_misc {}; Nix reads $NIX_CONF_DIR/nix.conf (sandbox = {}){}; payloads in $CROSSLAB_PAYLOADS. Leave the shell to tear the lab down.",
            lab.name,
            system.double,
            if registered.is_empty() { "has nothing registered".to_owned() } else { format!("has {}", registered.join(", ")) },
            plan.nix_conf.sandbox,
            if plan.nix_conf.daemon.is_some() {
                format!(", its daemon builds as the nixbld users (NIX_REMOTE=daemon; the probes run as `{}`: `setpriv --reuid={} --regid={} --init-groups -- sh`)", crate::plan::CLIENT_USER, crate::plan::CLIENT_ID, crate::plan::CLIENT_ID)
            } else {
                String::new()
            }
        );
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
}
