//! `lab matrix`: labs × systems on the backend `lab run` would use, as the "Works?" table
//! people paste into READMEs and bug reports (Markdown), or as JSON.
//!
//! `--format json` prints, per lab run, the object `lab run --json` prints
//! (same verdict words, same probe objects, summary and versions) with its rows.
//!
//! Without `--systems` every lab runs as written, once, and gives one row per
//! system it lists. With `--systems`, each lab runs once per given system with
//! that system substituted for its own ([`for_system`]).

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use serde::Serialize;
use toml::Value;

use crate::diagnose;
use crate::flags::{self, MatrixFormat};
use crate::outcome::{LabReport, Verdict, Versions};
use crate::plan::{CompileTimes, Plan};
use crate::report::{self, JsonLab};
use crate::run;
use crate::spec::{self, Lab};
use crate::systems::NixSystem;

/// One row of the matrix: a lab on one target system.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    #[serde(skip)]
    pub lab: String,
    /// The stack it ran on (`host`, `bookworm`, `trixie`, `forky`).
    #[serde(skip)]
    pub stack: &'static str,
    /// The machine the lab models ([`Lab::machine_words`]).
    #[serde(skip)]
    pub host: String,
    pub system: &'static str,
    /// Every probe for this system ended as the lab expects.
    pub works: bool,
    /// The lab can be modelled on this stack at all (else the note says
    /// why, and the row counts neither way).
    pub applies: bool,
    /// Some of them reproduced an expected failure.
    pub fails_as_reported: bool,
    /// Why, in a few words.
    pub note: String,
    /// The first `compile` probe's times on this system, if it compiled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile: Option<CompileTimes>,
    /// The ids of the row's probes, as in the lab's `probes`.
    pub probes: Vec<String>,
}

impl Row {
    /// The "Works?" cell: `✅`, `✅ (fails as reported)` or `❌`.
    pub fn works_cell(&self) -> &'static str {
        if !self.applies {
            return "— (does not apply)";
        }
        match (self.works, self.fails_as_reported) {
            (true, false) => "✅",
            (true, true) => "✅ (fails as reported)",
            (false, _) => "❌",
        }
    }
}

/// A lab to run for the matrix: as written, or substituted for one system.
struct Job {
    name: String,
    spec: std::path::PathBuf,
    host: &'static str,
    /// [`Lab::machine_words`].
    machine: String,
    /// The rows' systems; the lab's own when not substituted.
    systems: Vec<&'static NixSystem>,
    lab: Result<Lab, String>,
}

impl Job {
    /// The rows of a job that did not run on `stack`: it cannot run at all
    /// (`applies`: its spec does not fit the system) or does not apply there.
    fn rows_not_run(&self, stack: &'static str, applies: bool, note: String) -> Vec<Row> {
        self.systems
            .iter()
            .map(|system| Row {
                lab: self.name.clone(),
                stack,
                host: self.machine.clone(),
                system: system.double,
                works: false,
                applies,
                fails_as_reported: false,
                note: note.clone(),
                compile: None,
                probes: Vec::new(),
            })
            .collect()
    }

    fn systems_text(&self) -> String {
        self.systems.iter().map(|s| s.double).collect::<Vec<_>>().join(", ")
    }
}

impl flags::Matrix {
    pub fn run(self, root: &Path) -> anyhow::Result<ExitCode> {
        let labs = crate::load_labs(root, &self.labs)?;
        let targets = self
            .systems
            .iter()
            .map(|s| {
                NixSystem::find(s.trim()).with_context(|| {
                    format!("--systems: unknown system `{s}`\n  help: known systems: {}", crate::systems::known_list())
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut jobs = Vec::new();
        for lab in labs {
            if targets.is_empty() {
                jobs.push(Job {
                    name: lab.name.clone(),
                    spec: lab.path.clone(),
                    host: lab.host.as_str(),
                    machine: lab.machine_words(),
                    systems: lab.systems.clone(),
                    lab: Ok(lab),
                });
                continue;
            }
            for &system in &targets {
                let substituted = for_system(&lab, system).map_err(|e| e.to_string());
                jobs.push(Job {
                    name: lab.name.clone(),
                    spec: lab.path.clone(),
                    host: lab.host.as_str(),
                    machine: lab.machine_words(),
                    systems: vec![system],
                    lab: substituted,
                });
            }
        }

        if let Some(shard) = self.shard {
            let all = jobs.len();
            jobs = shard.take(jobs);
            eprintln!("crosslab: matrix: shard {shard}: {} of {all} lab runs", jobs.len());
        }

        let selection = crate::selection::Selection { systems: Vec::new(), probes: self.probe.clone() };
        let mut plans: Vec<Option<Plan>> =
            jobs.iter().map(|j| j.lab.as_ref().ok().map(|l| Plan::new(l, std::env::consts::ARCH))).collect();
        for plan in plans.iter_mut().flatten() {
            selection.apply(plan)?;
        }
        let ready: Vec<&Plan> = plans.iter().flatten().collect();
        let stacks = self
            .stacks
            .iter()
            .map(|s| crate::provision::stack::Stack::find(s.trim()))
            .collect::<anyhow::Result<Vec<_>>>()?;
        // A shard with no lab run (more shards than runs) has an empty table:
        // nothing to set up a backend for.
        let stacks = if jobs.is_empty() { Vec::new() } else { stacks };
        let backend =
            if stacks.is_empty() { None } else { Some(run::choose_backend(self.backend, self.allow_global, &ready)?) };

        let mut rows = Vec::new();
        // Each stack's Nix and qemu, for its column's header.
        let mut versions = Vec::new();
        let mut ran: Vec<(&Plan, LabReport)> = Vec::new();
        // One `lab run --json` object per lab and stack, with its rows.
        let mut json_labs: Vec<serde_json::Value> = Vec::new();
        let with_rows = |mut lab: serde_json::Value, rows: &[Row], error: Option<String>| {
            lab["rows"] = serde_json::to_value(rows).expect("rows serialise");
            if let Some(error) = error {
                lab["error"] = error.into();
            }
            lab
        };
        for stack in stacks {
            let backend = backend.expect("chosen when there is a stack to run on");
            let session = run::Session::start(backend, stack, &ready, self.allow_global)?;
            versions.push(session.versions.clone());
            for (job, plan) in jobs.iter().zip(&plans) {
                let Some(plan) = plan else {
                    let why = job.lab.as_ref().err().cloned().unwrap_or_default();
                    eprintln!("crosslab: matrix: {} cannot run for {}: {why}", job.name, job.systems_text());
                    let job_rows =
                        job.rows_not_run(stack.name, true, format!("lab does not apply: {}", first_line(&why)));
                    json_labs.push(with_rows(not_run(job, &session)?, &job_rows, Some(why.clone())));
                    rows.extend(job_rows);
                    continue;
                };
                let started = Instant::now();
                let report = match session.run(plan, &mut |_| {}) {
                    Ok(report) => report,
                    Err(e) => {
                        let Some(why) = e.chain().find_map(|c| c.downcast_ref::<crate::plan::DoesNotApply>()) else {
                            return Err(e);
                        };
                        eprintln!("crosslab: matrix: {} does not apply on {}: {why}", job.name, stack.name);
                        let job_rows = job.rows_not_run(stack.name, false, first_line(&why.0).to_owned());
                        json_labs.push(with_rows(not_run(job, &session)?, &job_rows, Some(why.0.clone())));
                        rows.extend(job_rows);
                        continue;
                    }
                };
                let ok = report.verdicts.iter().filter(|v| v.as_expected).count();
                eprintln!(
                    "crosslab: matrix: {} on {} for {}: {ok} of {} probes as expected ({})",
                    job.name,
                    stack.name,
                    job.systems_text(),
                    report.verdicts.len(),
                    crate::text::format_duration(started.elapsed())
                );
                let job_rows: Vec<Row> =
                    rows_of(plan, &report).into_iter().map(|r| Row { stack: stack.name, ..r }).collect();
                json_labs.push(with_rows(session.to_json(plan, &report)?, &job_rows, None));
                rows.extend(job_rows);
                ran.push((plan, report));
            }
            session.finish();
        }

        if let Some(path) = &self.junit {
            let labs: Vec<(&Plan, &LabReport)> = ran.iter().map(|(p, r)| (*p, r)).collect();
            report::junit::write(path, &labs)?;
        }
        match self.format {
            MatrixFormat::Markdown => print!("{}", markdown_with(&rows, self.compile_times, &versions)),
            MatrixFormat::Json => println!("{}", serde_json::to_string_pretty(&json_labs)?),
        }
        Ok(if rows.iter().all(|r| r.works || !r.applies) { ExitCode::SUCCESS } else { ExitCode::from(1) })
    }
}

/// The `lab run --json` object of a lab that did not run: no probes, and
/// the session's backend and versions.
fn not_run(job: &Job, session: &run::Session) -> anyhow::Result<serde_json::Value> {
    let mut lab = serde_json::to_value(JsonLab {
        lab: &job.name,
        spec: job.spec.display().to_string(),
        host: job.host,
        backend: session.backend_name(),
        summary: report::JsonSummary::default(),
        notes: Vec::new(),
        probes: Vec::new(),
    })?;
    lab["versions"] = serde_json::to_value(&session.versions)?;
    Ok(lab)
}

/// The rows of one lab's run: one per system, in the lab's order.
pub fn rows_of(plan: &Plan, report: &LabReport) -> Vec<Row> {
    plan.lab
        .systems
        .iter()
        .map(|system| {
            let verdicts: Vec<&Verdict> = report.verdicts.iter().filter(|v| v.probe.system == *system).collect();
            let works = !verdicts.is_empty() && verdicts.iter().all(|v| v.as_expected);
            let fails_as_reported = verdicts.iter().any(|v| v.as_expected && !v.passed);
            Row {
                lab: report.lab.clone(),
                stack: "host",
                host: plan.lab.machine_words(),
                system: system.double,
                works,
                applies: true,
                fails_as_reported,
                note: note(plan, &verdicts),
                compile: verdicts.iter().find_map(|v| v.compile_times()),
                probes: verdicts.iter().map(|v| v.probe.id()).collect(),
            }
        })
        .collect()
}

/// The note of one row: the most informative surprise's diagnosis (see
/// [`diagnose::most_informative`]; else what was expected and what
/// happened), else what passed and what failed as reported.
fn note(plan: &Plan, verdicts: &[&Verdict]) -> String {
    if verdicts.is_empty() {
        return "no probe runs for this system".to_owned();
    }
    if let Some((v, diagnosis)) = diagnose::most_informative(plan, verdicts) {
        let kind = v.probe.kind.as_str();
        if let Some(d) = diagnosis {
            return format!("{kind}: {}", d.summary);
        }
        return match v.label() {
            "XPASS" if v.probe.system.is_native_on(plan.host_arch, plan.host_cpu) => {
                format!(
                    "{kind} passes: {} runs natively on {}, nothing is emulated",
                    v.probe.system.double, plan.host_arch
                )
            }
            "XPASS" => format!("{kind} passes: the reported failure is gone"),
            _ if v.passed == (v.probe.expect.status == spec::Expect::Pass) => {
                format!("{kind}: {}, but not {}", v.status_text(), v.probe.expect.describe())
            }
            _ => format!("{kind}: expected {}, got {}", v.probe.expect.status.as_str(), v.status_text()),
        };
    }
    let mut passed: Vec<&str> = Vec::new();
    let mut reported: Vec<String> = Vec::new();
    for v in verdicts {
        let kind = v.probe.kind.as_str();
        if v.passed {
            if !passed.contains(&kind) {
                passed.push(kind);
            }
        } else {
            let text = v.probe.expect.contains.first().map(|t| format!(": \"{t}\"")).unwrap_or_default();
            reported.push(format!("{kind} fails as reported{text}"));
        }
    }
    let mut parts = Vec::new();
    if !passed.is_empty() {
        parts.push(format!("{} pass", passed.join(", ")));
    }
    parts.extend(reported);
    parts.join("; ")
}

/// The rows as a GitHub Markdown table. Rows of several stacks share a
/// line per lab and system, with a "Works?" column per stack; the note is
/// per stack where the stacks disagree.
pub fn markdown(rows: &[Row]) -> String {
    markdown_with(rows, false, &[])
}

/// [`markdown`], with a column of compile times when `compile_times` is set,
/// and each stack's Nix and qemu in its column's header where `versions`
/// has that stack's.
pub fn markdown_with(rows: &[Row], compile_times: bool, versions: &[Versions]) -> String {
    let mut stacks: Vec<&str> = Vec::new();
    for r in rows {
        if !stacks.contains(&r.stack) {
            stacks.push(r.stack);
        }
    }
    if stacks.len() <= 1 {
        // A column of compile times (emulated, cross, ratio) when asked for.
        let times = compile_times;
        let mut out = String::from("| Lab | Host | System | Works? | Note |");
        out.push_str(if times {
            " Compile: emulated / cross |\n|---|---|---|---|---|---|\n"
        } else {
            "\n|---|---|---|---|---|\n"
        });
        for r in rows {
            out.push_str(&format!(
                "| `{}` | {} | `{}` | {} | {} |",
                cell(&r.lab),
                cell(&r.host),
                cell(r.system),
                r.works_cell(),
                cell(&r.note)
            ));
            if times {
                out.push_str(&format!(" {} |", r.compile.map(|t| cell(&t.describe())).unwrap_or_default()));
            }
            out.push('\n');
        }
        return out;
    }
    let works: String = stacks
        .iter()
        .map(|s| match versions.iter().find(|v| v.stack == *s) {
            Some(v) => format!(" Works? ({s}: {}) |", v.tools()),
            None => format!(" Works? ({s}) |"),
        })
        .collect();
    let mut out = format!("| Lab | Host | System |{works} Note |\n|---|---|---|{}---|\n", "---|".repeat(stacks.len()));
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for r in rows {
        if seen.contains(&(r.lab.as_str(), r.system)) {
            continue;
        }
        seen.push((r.lab.as_str(), r.system));
        let same: Vec<&Row> = rows.iter().filter(|o| o.lab == r.lab && o.system == r.system).collect();
        let cells: String = stacks
            .iter()
            .map(|s| format!(" {} |", same.iter().find(|o| o.stack == *s).map_or("—", |o| o.works_cell())))
            .collect();
        let note = if same.iter().all(|o| o.note == r.note) {
            cell(&r.note)
        } else {
            same.iter().map(|o| format!("{}: {}", o.stack, cell(&o.note))).collect::<Vec<_>>().join("<br>")
        };
        out.push_str(&format!("| `{}` | {} | `{}` |{cells} {note} |\n", cell(&r.lab), cell(&r.host), cell(r.system)));
    }
    out
}

/// Text made safe for one Markdown table cell: `|` escaped, line breaks as
/// `<br>`, HTML brackets and `&` as entities (so `&lt;` shows as written).
pub fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.trim().lines().enumerate() {
        if line.0 > 0 {
            out.push_str("<br>");
        }
        for c in line.1.chars() {
            match c {
                '|' => out.push_str("\\|"),
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '\r' => {}
                c => out.push(c),
            }
        }
    }
    out
}

/// `lab` with `system` in place of its own systems: the lab's spec text is
/// rewritten ([`spec_for_system`]) and validated again, so a substitution the
/// spec format rejects is reported as such.
pub fn for_system(lab: &Lab, system: &'static NixSystem) -> anyhow::Result<Lab> {
    let text = spec_for_system(lab, system)?;
    spec::parse(&lab.name, &lab.path, &text)
        .map_err(|e| anyhow::anyhow!("{}", e.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ")))
}

/// The spec text of `lab` with `system` in place of its own systems. Its
/// `extra-platforms` entries naming one of its systems become `system`, and
/// so do FHS interpreter paths (`/usr/bin/qemu-<arch>-static`) in
/// `extra-sandbox-paths`; probes limited to other systems are dropped.
pub fn spec_for_system(lab: &Lab, system: &'static NixSystem) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(&lab.path).with_context(|| format!("failed to read `{}`", lab.path.display()))?;
    let mut table: toml::Table = text.parse().with_context(|| format!("failed to parse `{}`", lab.path.display()))?;
    let own: Vec<&str> = lab.systems.iter().map(|s| s.double).collect();
    let own_interpreters: Vec<String> = lab.systems.iter().map(|s| s.fhs_interpreter()).collect();
    table.insert("systems".into(), Value::Array(vec![Value::String(system.double.into())]));
    if let Some(Value::Table(nix)) = table.get_mut("nix") {
        substitute(nix.get_mut("extra-platforms"), |s| own.contains(&s), system.double);
        substitute(
            nix.get_mut("extra-sandbox-paths"),
            |s| own_interpreters.iter().any(|i| i == s),
            &system.fhs_interpreter(),
        );
    }
    if let Some(Value::Array(probes)) = table.get_mut("probe") {
        probes.retain_mut(|probe| {
            let Some(Value::Array(only)) = probe.get_mut("systems") else { return true };
            only.retain(|s| s.as_str() == Some(system.double));
            !only.is_empty()
        });
        if probes.is_empty() {
            bail!("none of its probes runs for {}", system.double);
        }
    }
    Ok(toml::to_string(&table)?)
}

/// Replaces the strings of `list` that `is_own` picks by `new`, in place:
/// the list keeps its length (a spec that lists a path twice still does).
fn substitute(list: Option<&mut Value>, is_own: impl Fn(&str) -> bool, new: &str) {
    let Some(Value::Array(items)) = list else { return };
    for item in items.iter_mut() {
        if item.as_str().is_some_and(&is_own) {
            *item = Value::String(new.to_owned());
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}
