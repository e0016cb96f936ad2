//! `lab fix`: from a lab's diagnoses to the smallest change of its spec that
//! makes every probe pass, proved by running the changed lab on the backend
//! `lab run` would use (host namespaces, or a VM on kernels before 6.7;
//! isolated either way), one layer at a time, and what the same changes are
//! on a real machine of the lab's host kind.
//!
//! The user's aim is a working machine, so a probe the lab expects to fail
//! (a reproduced report) is first turned into one expected to pass; the
//! header of the written spec says so.
//!
//! The search: run the lab; take the failing probes' diagnoses, most
//! informative first, and their [`SpecChange`]s, preferred first; apply the
//! first change not yet tried and run again. A change is kept when no probe
//! that passed fails now and the failures shrank or changed cause (a layer
//! peeled: armv7l first needs `extra-platforms`, then the emulator in the
//! sandbox); else it is undone and the next is tried. It ends when every
//! probe passes (verified) or no untried change is left.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use toml::{Table, Value};

use crate::diagnose::{self, SpecChange};
use crate::flags;
use crate::outcome::LabReport;
use crate::plan::Plan;
use crate::run;
use crate::spec::{self, HostKind, Lab, Language};
use crate::systems::NixSystem;

/// At most this many runs of the lab in one search.
const MAX_RUNS: usize = 32;

/// A change tried on the lab, and what the run after it showed.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub change: SpecChange,
    pub kept: bool,
    /// Failing probes before and after the change.
    pub failing_before: usize,
    pub failing_after: usize,
    /// Why the changed spec was not run: the spec format rejects it.
    pub rejected: Option<String>,
}

/// The outcome of a search.
#[derive(Debug)]
pub struct Outcome {
    /// The spec as changed: every kept change applied, expectations flipped.
    pub table: Table,
    /// Probes that expected failure and now expect to pass: `(index, kind)`.
    pub flipped: Vec<(usize, String)>,
    /// The kept changes, in the order they were applied.
    pub applied: Vec<SpecChange>,
    pub attempts: Vec<Attempt>,
    /// Every probe of the changed lab passed in the last run.
    pub verified: bool,
    pub runs: usize,
    /// The failures left when not verified: `probe id: diagnosis or status`.
    pub left: Vec<String>,
}

impl flags::Fix {
    pub fn run(self, root: &Path) -> anyhow::Result<ExitCode> {
        let path = spec::resolve(&crate::labs_dir(root), &self.lab);
        let lab = spec::load(&path)?;
        let stack = crate::provision::stack::Stack::find(&self.stack)?;
        // The backend `lab run` would pick: the vm on kernels before 6.7.
        let original = Plan::new(&lab, std::env::consts::ARCH);
        let backend = run::choose_backend(self.backend, false, &[&original])?;
        let mut guest: Option<Booted> = None;
        let outcome = search(&lab, |lab| {
            let plan = Plan::new(lab, std::env::consts::ARCH);
            if backend != flags::Backend::Vm {
                // A change may register an emulator the last run did not need:
                // each run prepares what its own plan needs (cached when done).
                let session = run::Session::start(backend, stack, &[&plan], false)?;
                let report = session.run(&plan, &mut |_| {});
                session.finish();
                return report;
            }
            // One guest for every run (a boot costs seconds), booted again
            // only when a change needs a payload or toolchain it was not given.
            if !guest.as_ref().is_some_and(|g| g.covers(&plan)) {
                if let Some(old) = guest.take() {
                    old.session.finish();
                }
                guest = Some(Booted::start(stack, &[&original, &plan])?);
            }
            guest.as_ref().expect("booted above").session.run(&plan, &mut |_| {})
        })?;
        if let Some(booted) = guest {
            booted.session.finish();
        }

        if outcome.applied.is_empty() && outcome.flipped.is_empty() && outcome.verified {
            println!("lab {}: every probe passes already; nothing to fix", lab.name);
            return Ok(ExitCode::SUCCESS);
        }
        let fixed = parse_table(&lab, &outcome.table)?;
        let plan = Plan::new(&fixed, std::env::consts::ARCH);
        print!("{}", summary(&lab, &plan, &outcome));
        if !outcome.verified {
            return Ok(ExitCode::from(1));
        }
        let out = self.out.unwrap_or_else(|| PathBuf::from(format!("{}-fixed.toml", lab.name)));
        let mut table = outcome.table.clone();
        table.insert(
            "description".into(),
            Value::String(format!("{} — fixed by `lab fix`: {}", lab.description, changes_in_words(&outcome))),
        );
        let mut text = format!("{}{}", header(&lab, &outcome), toml::to_string(&table)?);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        std::fs::write(&out, text).with_context(|| format!("failed to write `{}`", out.display()))?;
        println!("fixed spec written to {}", out.display());
        Ok(ExitCode::SUCCESS)
    }
}

/// A vm backend session `lab fix` reuses across runs, and what its guest
/// was given: the payloads on its disk, the toolchains in the shared cache.
struct Booted {
    session: run::Session,
    payloads: Vec<&'static NixSystem>,
    toolchains: Vec<(&'static NixSystem, Language)>,
}

impl Booted {
    fn start(stack: &'static crate::provision::stack::Stack, plans: &[&Plan]) -> anyhow::Result<Booted> {
        let session = run::Session::start(flags::Backend::Vm, stack, plans, false)?;
        Ok(Booted {
            session,
            payloads: crate::plan::payload_systems(plans),
            toolchains: crate::plan::compile_toolchains(plans),
        })
    }

    /// Whether the guest has everything `plan` runs.
    fn covers(&self, plan: &Plan) -> bool {
        crate::plan::payload_systems(&[plan]).iter().all(|s| self.payloads.contains(s))
            && crate::plan::compile_toolchains(&[plan]).iter().all(|t| self.toolchains.contains(t))
    }
}

/// Searches for the changes that make every probe of `lab` pass, running
/// each candidate with `run_lab`.
pub fn search(lab: &Lab, mut run_lab: impl FnMut(&Lab) -> anyhow::Result<LabReport>) -> anyhow::Result<Outcome> {
    let text =
        std::fs::read_to_string(&lab.path).with_context(|| format!("failed to read `{}`", lab.path.display()))?;
    let mut table: Table = text.parse().with_context(|| format!("failed to parse `{}`", lab.path.display()))?;
    let flipped = expect_pass(&mut table);

    let mut applied: Vec<SpecChange> = Vec::new();
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut tried: BTreeSet<SpecChange> = BTreeSet::new();
    let mut runs = 0;
    // The last kept state: its spec and its failures.
    let mut kept_table = table.clone();
    // Each probe's index in the original spec: ids stay comparable across
    // runs when a change removes a probe.
    let probe_count = table.get("probe").and_then(Value::as_array).map_or(0, Vec::len);
    let mut origin: Vec<usize> = (0..probe_count).collect();
    let mut kept_origin = origin.clone();
    let mut kept_failures: Option<Failures> = None;
    let mut trying: Option<SpecChange> = None;
    loop {
        let current = parse_table(lab, &table)?;
        let plan = Plan::new(&current, std::env::consts::ARCH);
        let report = run_lab(&current)?;
        runs += 1;
        let failures = Failures::of(&plan, &report, &origin);
        eprintln!(
            "crosslab: fix: run {runs}{}: {} of {} probes fail{}",
            trying.as_ref().map(|c| format!(" ({})", c.describe())).unwrap_or_default(),
            failures.ids.len(),
            report.verdicts.len(),
            failures.first_summary().map(|s| format!(" — {s}")).unwrap_or_default()
        );
        if let Some(change) = trying.take() {
            let before = kept_failures.as_ref().expect("a change is tried after a first run");
            let kept = failures.is_progress_from(before);
            attempts.push(Attempt {
                change: change.clone(),
                kept,
                failing_before: before.ids.len(),
                failing_after: failures.ids.len(),
                rejected: None,
            });
            if kept {
                applied.push(change);
                kept_table = table.clone();
                kept_origin = origin.clone();
                kept_failures = Some(failures);
            } else {
                table = kept_table.clone();
                origin = kept_origin.clone();
            }
        } else {
            kept_failures = Some(failures);
        }
        let state = kept_failures.as_ref().expect("set above");
        if state.ids.is_empty() {
            return Ok(Outcome { table, flipped, applied, attempts, verified: true, runs, left: Vec::new() });
        }
        // The next change the spec format accepts; one it rejects (e.g.
        // emulatedSystems for a system nixpkgs has no magic for) is no help.
        let validated = parse_table(lab, &table)?;
        loop {
            let next = state.changes.iter().find(|c| !tried.contains(*c)).cloned();
            let Some(change) = next.filter(|_| runs < MAX_RUNS) else {
                let left = state.described.clone();
                return Ok(Outcome { table, flipped, applied, attempts, verified: false, runs, left });
            };
            tried.insert(change.clone());
            let mut changed = table.clone();
            // A change the spec format has no key for, or one it rejects, is not run.
            if let Err(e) = apply(&mut changed, &validated, &change).and_then(|()| parse_table(lab, &changed).map(drop))
            {
                let failing = state.ids.len();
                let why = e.to_string().lines().next().unwrap_or_default().to_owned();
                attempts.push(Attempt {
                    change,
                    kept: false,
                    failing_before: failing,
                    failing_after: failing,
                    rejected: Some(why),
                });
                continue;
            }
            table = changed;
            if let SpecChange::RemoveProbe { probe, .. } = change {
                origin.remove(probe);
            }
            trying = Some(change);
            break;
        }
    }
}

/// The failing probes of one run: their ids, their causes, and the changes
/// their diagnoses propose, most informative diagnosis first.
struct Failures {
    ids: BTreeSet<String>,
    causes: BTreeSet<(String, Option<String>)>,
    changes: Vec<SpecChange>,
    described: Vec<String>,
}

impl Failures {
    fn of(plan: &Plan, report: &LabReport, origin: &[usize]) -> Failures {
        // (informativeness, verdict index, proposed changes), best first once sorted.
        let mut diagnosed: Vec<(u8, usize, Vec<SpecChange>)> = Vec::new();
        let mut ids = BTreeSet::new();
        let mut causes = BTreeSet::new();
        let mut described = Vec::new();
        for (i, v) in report.verdicts.iter().enumerate().filter(|(_, v)| !v.as_expected) {
            let d = diagnose::diagnose(plan, v);
            let id = format!(
                "{}[{}]@{}",
                v.probe.kind.as_str(),
                origin.get(v.probe.index).copied().unwrap_or(v.probe.index),
                v.probe.system.double
            );
            ids.insert(id.clone());
            causes.insert((id, d.as_ref().map(|d| format!("{:?}", d.cause))));
            described.push(match &d {
                Some(d) => format!("{}: {}", v.probe.id(), d.summary),
                None => format!("{}: {} (no diagnosis)", v.probe.id(), v.status_text()),
            });
            if let Some(d) = d {
                diagnosed.push((d.cause.informativeness(), i, d.changes));
            }
        }
        diagnosed.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut changes: Vec<SpecChange> = Vec::new();
        for (_, _, cs) in &diagnosed {
            for c in cs {
                if !changes.contains(c) {
                    changes.push(c.clone());
                }
            }
        }
        Failures { ids, causes, changes, described }
    }

    fn first_summary(&self) -> Option<&str> {
        self.described.first().map(String::as_str)
    }

    /// No probe that passed before fails now, and the failures shrank or
    /// changed cause.
    fn is_progress_from(&self, before: &Failures) -> bool {
        self.ids.is_subset(&before.ids) && (self.ids.len() < before.ids.len() || self.causes != before.causes)
    }
}

/// Turns every probe expecting failure into one expecting to pass (its
/// `expect-output` was the failure's text, so it goes too); returns them.
pub fn expect_pass(table: &mut Table) -> Vec<(usize, String)> {
    let mut flipped = Vec::new();
    if let Some(Value::Array(probes)) = table.get_mut("probe") {
        for (i, probe) in probes.iter_mut().enumerate() {
            let Value::Table(probe) = probe else { continue };
            if probe.get("expect").and_then(Value::as_str) == Some("fail") {
                probe.remove("expect");
                let text = probe.remove("expect-output").and_then(|v| v.as_str().map(str::to_owned));
                let kind = probe.get("kind").and_then(Value::as_str).unwrap_or("?").to_owned();
                flipped.push((
                    i,
                    match text {
                        Some(t) => format!("{kind}, which expected to fail with {t:?}"),
                        None => format!("{kind}, which expected to fail"),
                    },
                ));
            }
        }
    }
    flipped
}

/// Applies `change` to the spec `table`, whose validated form is `lab`.
pub fn apply(table: &mut Table, lab: &Lab, change: &SpecChange) -> anyhow::Result<()> {
    let sub = |table: &mut Table, name: &str| -> anyhow::Result<Table> {
        match table.remove(name) {
            None => Ok(Table::new()),
            Some(Value::Table(t)) => Ok(t),
            Some(_) => bail!("`{name}` is not a table"),
        }
    };
    let strings = |items: &[String]| Value::Array(items.iter().map(|s| Value::String(s.clone())).collect());
    match change {
        SpecChange::AddSandboxPaths(new) => {
            let mut nix = sub(table, "nix")?;
            let mut paths = lab.nix.extra_sandbox_paths.clone();
            for p in new {
                if !paths.contains(p) {
                    paths.push(p.clone());
                }
            }
            nix.insert("extra-sandbox-paths".into(), strings(&paths));
            table.insert("nix".into(), Value::Table(nix));
        }
        SpecChange::MakeSandboxPathOptional(p) => {
            let mut nix = sub(table, "nix")?;
            let paths: Vec<String> =
                lab.nix.extra_sandbox_paths.iter().map(|x| if x == p { format!("{p}?") } else { x.clone() }).collect();
            nix.insert("extra-sandbox-paths".into(), strings(&paths));
            table.insert("nix".into(), Value::Table(nix));
        }
        SpecChange::AddPlatform(s) => {
            let mut nix = sub(table, "nix")?;
            let mut platforms = lab.nix.extra_platforms.clone();
            if !platforms.iter().any(|p| p == s) {
                platforms.push((*s).to_owned());
            }
            nix.insert("extra-platforms".into(), strings(&platforms));
            table.insert("nix".into(), Value::Table(nix));
        }
        SpecChange::RemoveSandboxPath(p) => {
            let mut nix = sub(table, "nix")?;
            let paths: Vec<String> =
                lab.nix.extra_sandbox_paths.iter().filter(|x| x.trim_end_matches('?') != p).cloned().collect();
            nix.insert("extra-sandbox-paths".into(), strings(&paths));
            table.insert("nix".into(), Value::Table(nix));
        }
        // Not spec keys yet (`[nix] system-features`, `filter-syscalls`):
        // the search reports them as not run, with this reason.
        SpecChange::AddSystemFeatures(_) | SpecChange::FilterSyscallsOff => {
            bail!("the spec format has no key for this yet: {}", change.describe())
        }
        SpecChange::SandboxOff => {
            let mut nix = sub(table, "nix")?;
            nix.insert("sandbox".into(), Value::Boolean(false));
            table.insert("nix".into(), Value::Table(nix));
        }
        SpecChange::AddFlag(flag) => {
            let mut binfmt = sub(table, "binfmt")?;
            let flags: String = "POCF".chars().filter(|c| lab.binfmt.flags.contains(*c) || c == flag).collect();
            binfmt.insert("flags".into(), Value::String(flags));
            table.insert("binfmt".into(), Value::Table(binfmt));
        }
        SpecChange::RegisterEmulator => {
            let mut binfmt = sub(table, "binfmt")?;
            let interpreter = if lab.host == HostKind::Nixos { "nixos" } else { "fhs" };
            binfmt.insert("interpreter".into(), Value::String(interpreter.into()));
            table.insert("binfmt".into(), Value::Table(binfmt));
        }
        SpecChange::RemovePayload { probe, .. } => {
            let Some(Value::Table(t)) = table.get_mut("probe").and_then(|p| p.get_mut(*probe)) else {
                bail!("the spec has no probe[{probe}]");
            };
            t.remove("payload");
        }
        SpecChange::RemoveProbe { probe, .. } => {
            let Some(Value::Array(probes)) = table.get_mut("probe") else { bail!("the spec has no probes") };
            if *probe >= probes.len() {
                bail!("the spec has no probe[{probe}]");
            }
            probes.remove(*probe);
        }
        SpecChange::SetQemuCpu { probe, cpu } => {
            let Some(Value::Table(t)) = table.get_mut("probe").and_then(|p| p.get_mut(*probe)) else {
                bail!("the spec has no probe[{probe}]");
            };
            match cpu {
                Some(cpu) => t.insert("qemu-cpu".into(), Value::String((*cpu).to_owned())),
                None => t.remove("qemu-cpu"),
            };
        }
    }
    Ok(())
}

/// Validates `table` as the spec of `lab` (same name and path).
fn parse_table(lab: &Lab, table: &Table) -> anyhow::Result<Lab> {
    let text = toml::to_string(table)?;
    spec::parse(&lab.name, &lab.path, &text).map_err(|e| anyhow::anyhow!("the changed spec is invalid: {e}"))
}

/// The changes, in one line.
fn changes_in_words(outcome: &Outcome) -> String {
    let mut parts: Vec<String> = outcome.applied.iter().map(SpecChange::describe).collect();
    if !outcome.flipped.is_empty() {
        parts.push(format!(
            "{} that expected failure now expected to pass",
            crate::text::count(outcome.flipped.len(), "probe")
        ));
    }
    parts.join("; ")
}

/// The comment on top of the written spec: where it comes from and what changed.
pub fn header(lab: &Lab, outcome: &Outcome) -> String {
    let mut out = format!(
        "# Fixed by `cargo xtask lab fix` from {}: every probe passed in an isolated run of this spec ({}).\n# Changes:\n",
        lab.path.display(),
        crate::text::count(outcome.runs, "run")
    );
    for (i, what) in &outcome.flipped {
        out.push_str(&format!("#   - probe[{i}] ({what}) now expects to pass\n"));
    }
    for change in &outcome.applied {
        out.push_str(&format!("#   - {}\n", change.describe()));
    }
    out.push('\n');
    out
}

/// What `lab fix` prints: what it tried, what it kept, and the steps for a
/// real machine of the lab's host kind.
pub fn summary(lab: &Lab, fixed_plan: &Plan, outcome: &Outcome) -> String {
    let mut out = format!("lab {} ({}):\n", lab.name, lab.host.as_str());
    for (i, what) in &outcome.flipped {
        out.push_str(&format!("  probe[{i}] ({what}) now expects to pass: the aim is a working machine\n"));
    }
    for a in &outcome.attempts {
        let line = match (&a.rejected, a.kept) {
            (Some(why), _) => format!("  not run:  {} — {}\n", a.change.describe(), crate::text::printable(why)),
            (None, true) => {
                format!("  kept:     {} ({} → {} failing)\n", a.change.describe(), a.failing_before, a.failing_after)
            }
            (None, false) => {
                format!("  no help:  {} ({} → {} failing)\n", a.change.describe(), a.failing_before, a.failing_after)
            }
        };
        out.push_str(&line);
    }
    if !outcome.verified {
        out.push_str(&format!("no verified fix after {}; still failing:\n", crate::text::count(outcome.runs, "run")));
        for l in &outcome.left {
            out.push_str(&format!("  {}\n", crate::text::printable(l)));
        }
        if outcome.attempts.is_empty() {
            out.push_str("  no diagnosis proposes a change of the spec for these\n");
        }
        return out;
    }
    out.push_str(&format!(
        "verified: every probe passes with {} ({})\n",
        if outcome.applied.is_empty() {
            "the expectations changed".to_owned()
        } else {
            crate::text::count(outcome.applied.len(), "change")
        },
        crate::text::count(outcome.runs, "run")
    ));
    if !outcome.applied.is_empty() {
        out.push_str(&format!("on a real {} machine:\n", lab.host.as_str()));
        for step in machine_steps(fixed_plan, &outcome.applied) {
            out.push_str(&format!("  {}\n", crate::text::printable(&step)));
        }
    }
    out
}

/// Every change's steps on the machine, each step once; the closing ones
/// (`then` restart the daemon, rebuild) last, after every edit.
pub fn machine_steps(plan: &Plan, changes: &[SpecChange]) -> Vec<String> {
    let mut edits: Vec<String> = Vec::new();
    let mut closing: Vec<String> = Vec::new();
    for step in changes.iter().flat_map(|c| c.machine_steps(plan, &crate::machine::binfmt::registering_tool)) {
        let list = if step.starts_with("then ") { &mut closing } else { &mut edits };
        if !list.contains(&step) {
            list.push(step);
        }
    }
    edits.extend(closing);
    edits
}
