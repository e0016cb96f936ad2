//! Verdicts and how they are shown: the terminal report and `--json`.

use std::io::IsTerminal;

use serde::Serialize;

use crate::plan::{Plan, Probe};
use crate::run::process::Execution;
use crate::spec::Expect;

/// One probe's outcome, judged against its expectation.
#[derive(Debug)]
pub struct Verdict {
    pub probe: Probe,
    pub execution: Execution,
    /// Exit status 0 within the timeout.
    pub passed: bool,
    pub as_expected: bool,
}

impl Verdict {
    /// Short word for the verdict: `pass`, `xfail` (failed as expected),
    /// `FAIL`, `XPASS` (passed but should have failed), `TIMEOUT`.
    pub fn label(&self) -> &'static str {
        match (self.as_expected, self.passed, self.execution.timed_out) {
            (_, _, true) => "TIMEOUT",
            (true, true, _) => "pass",
            (true, false, _) => "xfail",
            (false, true, _) if self.probe.expect.status == Expect::Fail => "XPASS",
            (false, _, _) => "FAIL",
        }
    }
}

/// Every verdict of one lab on one backend.
#[derive(Debug)]
pub struct LabReport {
    pub lab: String,
    pub backend: &'static str,
    pub verdicts: Vec<Verdict>,
}

impl LabReport {
    pub fn all_as_expected(&self) -> bool {
        self.verdicts.iter().all(|v| v.as_expected)
    }

    /// The stable `--json` shape.
    pub fn to_json(&self) -> JsonLab<'_> {
        JsonLab {
            lab: &self.lab,
            backend: self.backend,
            probes: self
                .verdicts
                .iter()
                .map(|v| JsonProbe {
                    id: v.probe.id(),
                    kind: v.probe.kind.as_str(),
                    system: v.probe.system.double,
                    expect: v.probe.expect.status,
                    outcome: if v.passed { Expect::Pass } else { Expect::Fail },
                    as_expected: v.as_expected,
                    timed_out: v.execution.timed_out,
                    exit_code: v.execution.exit_code,
                    duration_ms: v.execution.duration.as_millis() as u64,
                    output: tail(&v.execution.output, 4000),
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
pub struct JsonLab<'a> {
    pub lab: &'a str,
    pub backend: &'a str,
    pub probes: Vec<JsonProbe>,
}

#[derive(Serialize)]
pub struct JsonProbe {
    pub id: String,
    pub kind: &'static str,
    pub system: &'static str,
    pub expect: Expect,
    pub outcome: Expect,
    pub as_expected: bool,
    pub timed_out: bool,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    pub output: String,
}

/// Whether to draw for a person (a terminal, not CI).
pub fn is_interactive() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("CI").is_none()
}

pub fn print_lab_header(plan: &Plan) {
    println!("lab {} ({}, {} probes)", plan.lab.name, plan.lab.host.as_str(), plan.probes.len());
}

pub fn print_verdict(v: &Verdict, _live: bool) {
    println!(
        "  {:7} {:32} {:>8}  {}",
        v.label(),
        v.probe.id(),
        format_duration(v.execution.duration),
        v.probe.title
    );
    if !v.as_expected {
        println!("          expected: {}", v.probe.expect.describe());
        let status = match (v.execution.timed_out, v.execution.exit_code, v.execution.signal) {
            (true, _, _) => format!("timed out after {}s", v.probe.timeout.as_secs()),
            (_, Some(c), _) => format!("exit status {c}"),
            (_, None, Some(s)) => format!("killed by signal {s}"),
            _ => "unknown status".to_owned(),
        };
        println!("          got: {status}, output:");
        for line in last_lines(&v.execution.output, 12) {
            println!("          | {line}");
        }
    }
}

pub fn print_summary(r: &LabReport) {
    let total = r.verdicts.len();
    let ok = r.verdicts.iter().filter(|v| v.as_expected).count();
    let word = if ok == total { "as expected" } else { "NOT as expected" };
    println!("  {ok} of {total} probes {word}\n");
}

fn format_duration(d: std::time::Duration) -> String {
    if d.as_secs() >= 1 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// The last `max` bytes of `text`, cut at a character boundary.
pub fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}
