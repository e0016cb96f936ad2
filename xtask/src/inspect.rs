//! The read-only lab commands: `lab list`, `lab show`, `lab check`.

use std::path::Path;
use std::process::ExitCode;

use crate::flags;
use crate::plan::Plan;
use crate::spec;
use crate::text::{count, printable};

impl flags::List {
    pub fn run(self, root: &Path) -> anyhow::Result<ExitCode> {
        let labs = crate::load_labs(root, &[])?;
        let width = labs.iter().map(|l| l.name.len()).max().unwrap_or(0);
        for lab in &labs {
            let systems: Vec<&str> = lab.systems.iter().map(|s| s.double).collect();
            println!(
                "{:width$}  {:9}  {}\n{:width$}  {}",
                lab.name,
                lab.host.as_str(),
                systems.join(","),
                "",
                printable(first_line(&lab.description)),
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

impl flags::Show {
    pub fn run(self, root: &Path) -> anyhow::Result<ExitCode> {
        let lab = crate::load_labs(root, std::slice::from_ref(&self.lab))?.remove(0);
        let plan = Plan::new(&lab, std::env::consts::ARCH);
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(format!("lab {} ({}), {}", lab.name, lab.path.display(), lab.host.as_str()));
        line(format!("  {}", lab.description.trim()));
        line(format!(
            "\nbinfmt_misc ({} interpreter, {} emulator, flags `{}`{}):",
            lab.binfmt.interpreter.as_str(),
            lab.binfmt.emulator.as_str(),
            lab.binfmt.flags,
            lab.binfmt.tool.map(|t| format!("; as {} writes them", t.about)).unwrap_or_default()
        ));
        if plan.registrations.is_empty() {
            line("  (no entries)".to_owned());
        }
        for reg in &plan.registrations {
            line(format!("  {}", reg.line()));
        }
        // Every sandbox path and platform the lab's Nix gets: the spec's, and
        // what the NixOS simulation adds (the emulator with its loader and
        // libraries, as this machine links it).
        let host_arch = plan.host_arch;
        let mut shared_objects = |program: &str| -> anyhow::Result<String> {
            if host_arch != std::env::consts::ARCH {
                anyhow::bail!("{program}'s libraries are read in the lab's {host_arch} guest when it runs")
            }
            crate::plan::local_shared_objects(program)
        };
        let nixos = match plan
            .nixos_simulation(&mut shared_objects, &mut |w| Ok(crate::provision::binfmt_wrapper::lab_path(w)))
        {
            Ok(sim) => sim,
            Err(e) => {
                line(format!("\n(the NixOS simulation cannot be listed here: {e:#})"));
                crate::plan::NixosSimulation::default()
            }
        };
        let release = plan.lab.binfmt.nixos_release.name;
        for (link, target) in &nixos.links {
            line(format!("\nNixOS {release} simulation: {link} -> {target}"));
        }
        line("\nnix.conf:".to_owned());
        for text in plan.nix_conf.to_nix_conf(&nixos.extra_sandbox_paths).lines() {
            line(format!("  {text}"));
        }
        if let Some(state) = plan.machine.command() {
            line("\nthe machine's state ([machine]), once the entries are registered:".to_owned());
            for text in state.lines() {
                line(format!("  {text}"));
            }
        }
        line(format!("\nprobes (on {}):", plan.host_arch));
        for probe in &plan.probes {
            line(format!("\n  {}  {}", probe.id(), probe.title));
            line(format!("    expects: {}, within {}s", probe.expect.describe(), probe.timeout.as_secs()));
            for text in probe.command.lines() {
                line(format!("    $ {text}"));
            }
        }
        for note in crate::report::notes::notes(&plan) {
            line(format!("\nnote: {note}"));
        }
        // What `nix flake check` fetches and builds for the lab's rendered check.
        let rendered = Plan::new(&lab, crate::render::VM_HOST_ARCH);
        if let Some(why) = crate::render::closure::not_a_nixos_test(&rendered) {
            line(format!("\nrendered check: none in the flake: {why}"));
        } else {
            line(format!("\nrendered check: {}", crate::render::closure::flake_attr(&rendered)));
            for (origin, what) in crate::render::closure::summary(&crate::render::closure::parts(&rendered)) {
                let label = match origin {
                    crate::render::closure::Origin::Cache => "downloads (the NixOS binary cache)",
                    crate::render::closure::Origin::Fetch => "fetches (by hash)",
                    crate::render::closure::Origin::Source => "builds from source",
                };
                line(format!("  {label}: {}", if what.is_empty() { "nothing".to_owned() } else { what.join(", ") }));
            }
        }
        // Spec text is shown, never obeyed by the terminal.
        print!("{}", printable(&out));
        Ok(ExitCode::SUCCESS)
    }
}

impl flags::Check {
    /// Checks every spec, not just up to the first bad one: each error is
    /// printed; the exit status is 2 if any spec is invalid.
    pub fn run(self, root: &Path) -> anyhow::Result<ExitCode> {
        let dir = crate::labs_dir(root);
        let paths = if self.labs.is_empty() {
            spec::all_lab_files(&dir)?
        } else {
            self.labs.iter().map(|a| spec::resolve(&dir, a)).collect()
        };
        let mut invalid = 0;
        for path in &paths {
            match spec::load(path) {
                Ok(lab) => {
                    let probes = Plan::new(&lab, std::env::consts::ARCH).probes.len();
                    let mut line = format!(
                        "ok  {}  ({}, {}",
                        lab.name,
                        count(lab.systems.len(), "system"),
                        count(probes, "probe")
                    );
                    if path.file_stem().is_some_and(|stem| *stem != *lab.name) {
                        line += &format!("; lab name derived from `{}`", path.display());
                    }
                    println!("{})", printable(&line));
                }
                Err(errors) => {
                    invalid += 1;
                    for e in errors.iter() {
                        eprintln!("error: {}", printable(&e.to_string()));
                    }
                    if errors.len() > 1 {
                        eprintln!("{} in `{}`", count(errors.len(), "error"), printable(&path.display().to_string()));
                    }
                }
            }
        }
        if invalid > 0 {
            eprintln!("{} of {} invalid", count(invalid, "spec"), paths.len());
            return Ok(ExitCode::from(2));
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn first_line(s: &str) -> &str {
    s.trim().lines().next().unwrap_or_default()
}
