//! `lab run`: loads the labs, runs them on the chosen backend and stack, and
//! shows what happened as it happens (the terminal report, `--json`,
//! `--junit`). The backends (`run/`) only run; this is where a run is shown.

use std::path::Path;
use std::process::ExitCode;

use crate::flags;
use crate::plan::Plan;
use crate::report;
use crate::run::{self, nixos, LabJson, RunLab};

/// The lab `lab run` runs when given none: the reported non-NixOS sandbox issue.
pub const DEFAULT_LAB: &str = "non-nixos-aarch64";

impl flags::Run {
    pub fn run(self, root: &Path) -> anyhow::Result<ExitCode> {
        let args = if self.labs.is_empty() { vec![DEFAULT_LAB.to_owned()] } else { self.labs.clone() };
        let labs = crate::load_labs(root, &args)?;
        if self.backend == Some(flags::Backend::Nixos) {
            let plans: Vec<Plan> = labs.iter().map(|l| Plan::new(l, std::env::consts::ARCH)).collect();
            run::choose_backend(self.backend, self.allow_global, &plans.iter().collect::<Vec<_>>())?;
            return nixos::run_labs(&self, root, labs, &|plans, run_lab, to_json| {
                run_and_report(&self, plans, run_lab, to_json)
            });
        }
        let mut plans: Vec<Plan> = labs.iter().map(|l| Plan::new(l, std::env::consts::ARCH)).collect();
        for plan in &mut plans {
            self.selection().apply(plan)?;
        }
        let backend = run::choose_backend(self.backend, self.allow_global, &plans.iter().collect::<Vec<_>>())?;
        let stack = crate::provision::stack::Stack::find(&self.stack)?;
        let session = run::Session::start(backend, stack, &plans.iter().collect::<Vec<_>>(), self.allow_global)?;
        let code =
            run_and_report(&self, &plans, &mut |plan, on_verdict| session.run(plan, on_verdict), &|plan, report| {
                Ok(serde_json::to_string(&session.to_json(plan, report)?)?)
            })?;
        session.finish();
        Ok(code)
    }
}

/// Runs each plan with `run_lab` and reports it as `lab run` does on every
/// backend: the terminal report while it runs (or one `--json` line per
/// lab, from `to_json`), then `--junit`; exit status 0 when every probe was
/// as expected, else 1.
pub fn run_and_report(
    flags: &flags::Run,
    plans: &[Plan],
    run_lab: &mut RunLab,
    to_json: &LabJson,
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
