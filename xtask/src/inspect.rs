//! The read-only lab commands: `lab list`, `lab show`, `lab check`.

use std::path::Path;
use std::process::ExitCode;

use crate::flags;
use crate::plan::Plan;
use crate::report::printable;

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
        line(format!("\nbinfmt_misc ({} interpreter, flags `{}`):", lab.binfmt.interpreter.as_str(), lab.binfmt.flags));
        if plan.registrations.is_empty() {
            line("  (no entries)".to_owned());
        }
        for reg in &plan.registrations {
            line(format!("  {}", reg.line()));
        }
        line("\nnix.conf:".to_owned());
        for text in plan.nix_conf.to_nix_conf(&[]).lines() {
            line(format!("  {text}"));
        }
        line(format!("\nprobes (on {}):", plan.host_arch));
        for probe in &plan.probes {
            line(format!("\n  {}  {}", probe.id(), probe.title));
            line(format!("    expects: {}, within {}s", probe.expect.describe(), probe.timeout.as_secs()));
            for text in probe.command.lines() {
                line(format!("    $ {text}"));
            }
        }
        // Spec text is shown, never obeyed by the terminal.
        print!("{}", printable(&out));
        Ok(ExitCode::SUCCESS)
    }
}

impl flags::Check {
    pub fn run(self, root: &Path) -> anyhow::Result<ExitCode> {
        let labs = crate::load_labs(root, &self.labs)?;
        for lab in &labs {
            let probes = Plan::new(lab, std::env::consts::ARCH).probes.len();
            let plural = |n: usize, word: &str| if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") };
            println!("ok  {}  ({}, {})", lab.name, plural(lab.systems.len(), "system"), plural(probes, "probe"));
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn first_line(s: &str) -> &str {
    s.trim().lines().next().unwrap_or_default()
}
