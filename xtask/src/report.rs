//! Verdicts and how they are shown: the terminal report (progress while a lab
//! runs, then a table of probes × systems and every surprise explained),
//! `--json`, and JUnit XML ([`junit`]).

pub mod junit;
pub mod notes;

use std::io::{IsTerminal, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::diagnose;
use crate::outcome::{LabReport, Verdict, VerdictWord};
use crate::plan::{CompileTimes, Plan, Probe};
use crate::spec::Expect;
use crate::text::{count, format_duration, last_lines, printable, tail};

impl LabReport {
    /// The stable JSON shape of `lab run --json` (one per line) and of
    /// `lab matrix --format json` (with its rows): the lab, where its spec
    /// is, a summary, and every probe with its verdict, command, output and
    /// (for a surprise, where there is one) diagnosis. `run::Session::to_json`
    /// adds what it ran with (`versions`: the stack, Nix, qemu, kernel).
    pub fn to_json_diagnosed(&self, plan: &Plan) -> JsonLab<'_> {
        let probes: Vec<JsonProbe> = self
            .verdicts
            .iter()
            .map(|v| JsonProbe {
                id: v.probe.id(),
                kind: v.probe.kind.as_str(),
                system: v.probe.system.double,
                title: v.probe.title.clone(),
                command: v.probe.command.clone(),
                expect: v.probe.expect.status,
                outcome: if v.passed { Expect::Pass } else { Expect::Fail },
                verdict: v.word(),
                as_expected: v.as_expected,
                timed_out: v.execution.timed_out,
                exit_code: v.execution.exit_code,
                duration_ms: v.execution.duration.as_millis() as u64,
                output: tail(&v.execution.output, 4000),
                compile: v.compile_times().map(|t| JsonCompile {
                    emulated_ms: t.emulated_ms,
                    cross_ms: t.cross_ms,
                    ratio: t.ratio().map(|r| (r * 10.0).round() / 10.0),
                }),
                diagnosis: diagnose::diagnose(plan, v).map(|d| JsonDiagnosis {
                    machine_steps: d.machine_steps(plan, &crate::machine::binfmt::registering_tool),
                    summary: d.summary,
                    detail: d.detail,
                    fix: d.fix,
                    changes: d.changes,
                }),
            })
            .collect();
        JsonLab {
            lab: &self.lab,
            spec: plan.lab.path.display().to_string(),
            host: plan.lab.host.as_str(),
            backend: self.backend,
            summary: JsonSummary::of(&self.verdicts),
            notes: notes::notes(plan),
            probes,
        }
    }
}

/// One lab's run as JSON; see [`LabReport::to_json_diagnosed`].
#[derive(Serialize)]
pub struct JsonLab<'a> {
    pub lab: &'a str,
    /// The spec's path, as given.
    pub spec: String,
    /// The kind of machine the lab models: `non-nixos` or `nixos`.
    pub host: &'static str,
    pub backend: &'a str,
    pub summary: JsonSummary,
    /// What holds whatever the verdicts ([`notes::notes`]), e.g. that a
    /// build's result depends on the host's binfmt_misc.
    pub notes: Vec<String>,
    pub probes: Vec<JsonProbe>,
}

/// A lab's verdicts counted: in all, as expected or not, and per [`VerdictWord`].
#[derive(Debug, Default, Serialize)]
pub struct JsonSummary {
    pub probes: usize,
    pub as_expected: usize,
    pub not_as_expected: usize,
    pub pass: usize,
    pub xfail: usize,
    pub fail: usize,
    pub xpass: usize,
    pub timeout: usize,
    /// The probes' time, added up.
    pub duration_ms: u64,
}

impl JsonSummary {
    pub fn of(verdicts: &[Verdict]) -> JsonSummary {
        let mut s = JsonSummary { probes: verdicts.len(), ..JsonSummary::default() };
        for v in verdicts {
            *if v.as_expected { &mut s.as_expected } else { &mut s.not_as_expected } += 1;
            *match v.word() {
                VerdictWord::Pass => &mut s.pass,
                VerdictWord::Xfail => &mut s.xfail,
                VerdictWord::Fail => &mut s.fail,
                VerdictWord::Xpass => &mut s.xpass,
                VerdictWord::Timeout => &mut s.timeout,
            } += 1;
            s.duration_ms += v.execution.duration.as_millis() as u64;
        }
        s
    }
}

#[derive(Serialize)]
pub struct JsonProbe {
    pub id: String,
    pub kind: &'static str,
    pub system: &'static str,
    pub title: String,
    /// The shell command the probe ran.
    pub command: String,
    pub expect: Expect,
    /// `pass` (exit status 0 within the timeout) or `fail`.
    pub outcome: Expect,
    pub verdict: VerdictWord,
    pub as_expected: bool,
    pub timed_out: bool,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    /// The decoded end of the probe's output.
    pub output: String,
    /// A `compile` probe's times: the target's compiler under emulation in the
    /// sandboxed build, the host's cross compiler, and how many times slower
    /// the first was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile: Option<JsonCompile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<JsonDiagnosis>,
}

#[derive(Serialize)]
pub struct JsonCompile {
    pub emulated_ms: u64,
    pub cross_ms: Option<u64>,
    pub ratio: Option<f64>,
}

#[derive(Serialize)]
pub struct JsonDiagnosis {
    pub summary: String,
    pub detail: String,
    pub fix: String,
    /// The fix as edits to the lab spec, preferred first (what `lab fix`
    /// applies), e.g. `{"add-sandbox-path": "/usr/bin/qemu-aarch64-static"}`.
    pub changes: Vec<diagnose::SpecChange>,
    /// The preferred change on a real machine of the lab's host kind.
    pub machine_steps: Vec<String>,
}

/// Whether to draw for a person (a terminal, not CI).
pub fn is_interactive() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("CI").is_none()
}

/// Where the terminal report goes; shared with the progress thread.
type Sink = Arc<Mutex<dyn Write + Send>>;

/// The terminal report of `lab run`: each probe as it starts and ends, then
/// per lab a table of probes × systems and every surprise with its command,
/// status, last lines of output and diagnosis.
///
/// `live` (a terminal, CI unset) draws the running probe on one line with a
/// spinner and its time once it passes a second, and uses colour. Otherwise
/// lines are plain, and a probe still running after a second gets one line
/// saying so (then one every 30 s), so a CI log shows what hangs.
pub struct Terminal {
    out: Sink,
    live: bool,
    ticker: Option<Ticker>,
    /// Show the output of probes that were as expected too.
    verbose: bool,
    /// Verdicts seen in the current lab: the index of the next probe.
    done: usize,
    lab_started: Instant,
}

impl Terminal {
    /// A report on stdout.
    pub fn stdout(live: bool) -> Terminal {
        Terminal::new(Arc::new(Mutex::new(std::io::stdout())), live)
    }

    /// A report into any writer (the tests use a buffer).
    pub fn new(out: Sink, live: bool) -> Terminal {
        Terminal { out, live, ticker: None, verbose: false, done: 0, lab_started: Instant::now() }
    }

    /// With `verbose`, each probe's line is followed by its output (a
    /// surprise's comes with its explanation after the table anyway).
    pub fn verbose(mut self, verbose: bool) -> Terminal {
        self.verbose = verbose;
        self
    }

    /// The lab header; the first probe starts (after registration).
    pub fn lab_started(&mut self, plan: &Plan) {
        self.stop_ticker();
        self.done = 0;
        self.lab_started = Instant::now();
        let systems: Vec<&str> = plan.lab.systems.iter().map(|s| s.double).collect();
        self.write(&format!(
            "{} ({}, {}; {})\n",
            self.paint(BOLD, &format!("lab {}", plan.lab.name)),
            plan.lab.host.as_str(),
            systems.join(", "),
            count(plan.probes.len(), "probe")
        ));
        if let Some(first) = plan.probes.first() {
            self.ticker = Some(Ticker::start(self.out.clone(), self.live, first));
        }
    }

    /// One probe has ended: its line, and the next probe starts.
    pub fn verdict(&mut self, plan: &Plan, v: &Verdict) {
        self.stop_ticker();
        self.done += 1;
        self.write(&self.verdict_line(v));
        if self.verbose && v.as_expected {
            self.write(&output_block(&v.execution.output, VERBOSE_LINES));
        }
        if let Some(next) = plan.probes.get(self.done) {
            self.ticker = Some(Ticker::start(self.out.clone(), self.live, next));
        }
    }

    /// The lab's table, its surprises explained, and a summary line.
    pub fn lab_finished(&mut self, plan: &Plan, report: &LabReport) {
        self.stop_ticker();
        let mut text = String::new();
        text.push_str(&table(report, self.live));
        text.push_str(&compile_table(report));
        for note in notes::notes(plan) {
            text.push_str(&format!("  {} {}\n\n", self.paint(BOLD, "note:"), printable(&note)));
        }
        text.push_str(&surprises(plan, report, self.live));
        let total = report.verdicts.len();
        let ok = report.verdicts.iter().filter(|v| v.as_expected).count();
        let xfail = report.verdicts.iter().filter(|v| v.as_expected && !v.passed).count();
        let reproduced = if xfail > 0 { format!(", {xfail} of them failing as reported") } else { String::new() };
        let all = count(total, "probe");
        let summary = if ok == total {
            format!("{ok} of {all} {}{reproduced}", self.paint(GREEN, "as expected"))
        } else {
            format!("{} of {all} {}; {ok} as expected{reproduced}", total - ok, self.paint(RED, "NOT as expected"))
        };
        text.push_str(&format!("  {summary} ({})\n\n", format_duration(self.lab_started.elapsed())));
        self.write(&text);
    }

    fn verdict_line(&self, v: &Verdict) -> String {
        let colour = colour_of(v);
        // An expected failure says what it was recognised by.
        let how = match (v.probe.expect.contains.first(), v.compile_times()) {
            (Some(text), _) if v.as_expected && !v.passed => format!(" — fails as reported: {text:?}"),
            (_, Some(times)) => format!(" — {}", times.describe()),
            _ => String::new(),
        };
        format!(
            "  {} {:32} {:>7}  {}{how}\n",
            self.paint(colour, &format!("{} {:7}", v.mark(), v.label())),
            v.probe.id(),
            format_duration(v.execution.duration),
            printable(&v.probe.title)
        )
    }

    fn paint(&self, colour: &str, text: &str) -> String {
        paint(self.live, colour, text)
    }

    fn write(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    fn stop_ticker(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.stop();
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.stop_ticker();
    }
}

/// The progress of the running probe, drawn by its own thread so that the
/// probe loop never waits for the terminal.
struct Ticker {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

impl Ticker {
    fn start(out: Sink, live: bool, probe: &Probe) -> Ticker {
        let (stop, stopped) = mpsc::channel::<()>();
        let id = probe.id();
        let title = printable(&probe.title).into_owned();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            // The progress line is redrawn with \r: it must not wrap.
            let fit = |line: String| line.chars().take(78).collect::<String>();
            let write = |text: &str| {
                let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            };
            // A probe shows as it starts; a fast one's line is replaced by its verdict.
            if live {
                write(&fit(format!("\r\x1b[K  {} {:7} {:32} {:>7}  {}", SPINNER[0], "", id, "", title)));
            }
            let mut frame = 0;
            let mut next_note = Duration::from_secs(1);
            loop {
                let wait = if live { Duration::from_millis(100) } else { next_note.saturating_sub(started.elapsed()) };
                match stopped.recv_timeout(wait) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => break,
                }
                let elapsed = started.elapsed();
                if live {
                    frame += 1;
                    let time = if elapsed >= Duration::from_secs(1) { format_duration(elapsed) } else { String::new() };
                    write(&fit(format!(
                        "\r\x1b[K  {} {:7} {:32} {:>7}  {}",
                        SPINNER[frame % SPINNER.len()],
                        "",
                        id,
                        time,
                        title
                    )));
                } else if elapsed >= next_note {
                    write(&format!("  … running {id} ({})\n", format_duration(elapsed)));
                    next_note = if next_note < Duration::from_secs(30) {
                        Duration::from_secs(30)
                    } else {
                        next_note + Duration::from_secs(30)
                    };
                }
            }
            if live {
                write("\r\x1b[K");
            }
        });
        Ticker { stop, thread }
    }

    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// Probes × systems: one row per system, one column per `[[probe]]` of the
/// spec, each cell `✓ pass 12ms`, `✓ xfail 80ms`, `✗ FAIL 1.2s`, or `-` where
/// the probe does not run for that system.
pub fn table(report: &LabReport, colour: bool) -> String {
    let mut columns: Vec<(usize, String)> = Vec::new();
    let mut systems: Vec<&'static str> = Vec::new();
    for v in &report.verdicts {
        if !columns.iter().any(|(i, _)| *i == v.probe.index) {
            columns.push((v.probe.index, format!("{}[{}]", v.probe.kind.as_str(), v.probe.index)));
        }
        if !systems.contains(&v.probe.system.double) {
            systems.push(v.probe.system.double);
        }
    }
    let cell = |system: &str, index: usize| -> Option<&Verdict> {
        report.verdicts.iter().find(|v| v.probe.system.double == system && v.probe.index == index)
    };
    let plain = |v: Option<&Verdict>| match v {
        Some(v) => format!("{} {} {}", v.mark(), v.label(), format_duration(v.execution.duration)),
        None => "-".to_owned(),
    };
    let first = systems.iter().map(|s| s.chars().count()).max().unwrap_or(0).max("system".len());
    let widths: Vec<usize> = columns
        .iter()
        .map(|(i, name)| {
            systems.iter().map(|s| plain(cell(s, *i)).chars().count()).max().unwrap_or(0).max(name.chars().count())
        })
        .collect();
    let mut out = format!("\n  {:first$}", "system");
    for ((_, name), w) in columns.iter().zip(&widths) {
        out.push_str(&format!("  {name:w$}"));
    }
    out.truncate(out.trim_end_matches(' ').len());
    out.push('\n');
    for system in &systems {
        out.push_str(&format!("  {system:first$}"));
        for ((i, _), w) in columns.iter().zip(&widths) {
            let v = cell(system, *i);
            let text = plain(v);
            let pad = w - text.chars().count();
            let shown = match v {
                Some(v) => paint(colour, colour_of(v), &text),
                None => text,
            };
            out.push_str(&format!("  {shown}{}", " ".repeat(pad)));
        }
        out.truncate(out.trim_end_matches(' ').len());
        out.push('\n');
    }
    out.push('\n');
    out
}

/// The `compile` probes' times, one row per probe and system: the target's
/// compiler under emulation, the host's cross compiler, the ratio. Empty when
/// no compile probe got as far as compiling.
pub fn compile_table(report: &LabReport) -> String {
    let rows: Vec<(String, CompileTimes)> =
        report.verdicts.iter().filter_map(|v| Some((v.probe.id(), v.compile_times()?))).collect();
    if rows.is_empty() {
        return String::new();
    }
    let width = rows.iter().map(|(id, _)| id.chars().count()).max().unwrap_or(0);
    let mut out = format!(
        "  {:width$}  {:>9}  {:>9}  {:>6}
",
        "compile times", "emulated", "cross", "ratio"
    );
    for (id, t) in rows {
        let secs = |ms: u64| format!("{:.2} s", ms as f64 / 1000.0);
        let cross = t.cross_ms.map(secs).unwrap_or_else(|| "-".into());
        let ratio = t.ratio().map(|r| format!("{r:.1}×")).unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "  {id:width$}  {:>9}  {cross:>9}  {ratio:>6}
",
            secs(t.emulated_ms)
        ));
    }
    out.push('\n');
    out
}

/// Every verdict that is not as expected: what ran, what was expected, how it
/// ended, the end of its output, and the diagnosis with its fix.
pub fn surprises(plan: &Plan, report: &LabReport, colour: bool) -> String {
    let mut out = String::new();
    for v in report.verdicts.iter().filter(|v| !v.as_expected) {
        out.push_str(&format!(
            "  {} {}: {}\n",
            paint(colour, RED, &format!("✗ {}", v.label())),
            v.probe.id(),
            printable(&v.probe.title)
        ));
        let mut command = v.probe.command.lines().map(printable);
        out.push_str(&format!("      command:   {}\n", command.next().unwrap_or_default()));
        for line in command {
            out.push_str(&format!("                 {line}\n"));
        }
        out.push_str(&format!("      expected:  {}\n", v.probe.expect.describe()));
        out.push_str(&format!("      got:       {}, in {}\n", v.status_text(), format_duration(v.execution.duration)));
        out.push_str(&output_block(&v.execution.output, 12));
        if let Some(d) = diagnose::diagnose(plan, v) {
            out.push_str(&format!("      {} {}\n", paint(colour, BOLD, "diagnosis:"), printable(&d.detail)));
            out.push_str(&format!("      {}       {}\n", paint(colour, BOLD, "fix:"), printable(&d.fix)));
            let steps = d.machine_steps(plan, &crate::machine::binfmt::registering_tool);
            if !steps.is_empty() {
                let header = format!("on a {} machine:", plan.lab.host.as_str());
                out.push_str(&format!("      {}\n", paint(colour, BOLD, &header)));
                for step in steps {
                    out.push_str(&format!("        {}\n", printable(&step)));
                }
            }
            // Not run here: the fix search reruns the lab once per change.
            if !d.changes.is_empty() {
                out.push_str(&format!(
                    "      not verified: `cargo xtask lab fix {}` finds the change that makes every probe pass and proves it\n",
                    printable(&plan.lab.path.display().to_string())
                ));
            }
        }
        out.push('\n');
    }
    out
}

/// How much of a passing probe's output `--verbose` shows.
const VERBOSE_LINES: usize = 40;

/// The last `max` lines of a probe's output, each shown as `| line`.
fn output_block(output: &str, max: usize) -> String {
    let lines = last_lines(output, max);
    if lines.is_empty() {
        return "      output:    (none)\n".to_owned();
    }
    let mut out = String::from("      output (last lines):\n");
    for line in lines {
        out.push_str(&format!("        | {}\n", printable(line)));
    }
    out
}

const BOLD: &str = "1";
const GREEN: &str = "32";
const CYAN: &str = "36";
const RED: &str = "1;31";

fn colour_of(v: &Verdict) -> &'static str {
    match (v.as_expected, v.passed) {
        (true, true) => GREEN,
        (true, false) => CYAN,
        (false, _) => RED,
    }
}

fn paint(on: bool, colour: &str, text: &str) -> String {
    if on {
        format!("\x1b[{colour}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}
