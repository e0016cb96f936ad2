//! Fuzzing the pipeline spec → validate → plan → render (and the report of a
//! run) with a fixed budget, so that it runs in every `cargo test`.
//!
//! Inputs, in this order: the seeds in `tests/fuzz-corpus/` and `labs/`
//! (`valid-*` must validate, `invalid-*` must be rejected), arbitrary bytes
//! (random, and mutations of the seeds), then generated specs: mostly valid,
//! every system of the table, every flag and probe option, hostile text in the
//! description, sandbox paths, commands and expected output, written in every
//! TOML string and table form. A quarter of them carry one deliberate mistake.
//!
//! Properties:
//! - nothing panics (each input runs under `catch_unwind`; a failing input is
//!   saved under `$CARGO_TARGET_TMPDIR/fuzz-failures/<seed>/`, to be added
//!   to the corpus once fixed);
//! - a generated spec validates exactly when the generator made no mistake in
//!   it, and its mistake's error names the file, that dotted key and a fix;
//! - every spec that validates plans for any host, survives `lab matrix`'s
//!   rewrite for each of its systems, and renders to Nix that `nix-instantiate`
//!   evaluates and Python that compiles, in which its text means what the spec
//!   says: the description, sandbox paths and platforms read back from Nix;
//!   each probe's command and expectation read back from the testScript as
//!   data (literals only, checked with Python's `ast`); the nix-config probe's
//!   shell command, run with a stand-in `nix`, matches each sandbox path byte
//!   for byte;
//! - the run's report of such a lab, with hostile probe output, gives JSON
//!   that parses back to the output, JUnit XML that parses, a Markdown matrix
//!   whose rows keep their five cells, and a terminal report without raw
//!   control characters.
//!
//! `CROSSLAB_FUZZ_CASES=N` runs N generated specs and 7·N byte inputs
//! (default 500, about 15 s in a debug build); `CROSSLAB_FUZZ_SEED` picks
//! another sequence. The summary line (`cargo test --test fuzz --
//! --nocapture`) says how many inputs ran and how many labs were rendered.
//! Needs Debian's nix-bin (nix-instantiate) and python3.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::NO_STORE;

use serde_json::{json, Value as Json};
use xtask::outcome::Execution;
use xtask::outcome::{LabReport, Verdict};
use xtask::plan::{Plan, Probe};
use xtask::render::{Render, VM_HOST_ARCH};
use xtask::report::{self, junit};
use xtask::spec::{self, Expect, Interpreter, Lab, ProbeKind};
use xtask::systems::{NixSystem, SYSTEMS};

/// Debian's python3, as in tests/render.rs.
const PYTHON: &str = "/usr/bin/python3";

/// The payload directory the testScript's JSON prelude is evaluated with.
const PAYLOADS_DIR: &str = "/etc/crosslab/payloads";
const TOOLCHAINS_DIR: &str = "/etc/crosslab/toolchains";

/// Labs rendered into one flake and checked by one nix-instantiate and one
/// python3 process.
const BATCH: usize = 48;

#[test]
fn fuzz_spec_plan_render_report() {
    common::test_packages();
    let started = Instant::now();
    let cases: usize = env_number("CROSSLAB_FUZZ_CASES").unwrap_or(500) as usize;
    let seed = env_number("CROSSLAB_FUZZ_SEED").unwrap_or(0x5eed_c805_51ab);
    let mut fuzz = Fuzz::new(seed);
    let _ = std::fs::remove_dir_all(fuzz.failures_dir()); // the last run's

    // 1. The seeds, always, and first.
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.extend(spec::all_lab_files(&xtask::labs_dir(&xtask::project_root())).unwrap());
    files.sort();
    assert!(files.len() >= 20, "the corpus has its seeds: {files:?}");
    for file in &files {
        let stem = file.file_stem().unwrap().to_str().unwrap();
        let must = if stem.starts_with("valid-") || file.starts_with(xtask::labs_dir(&xtask::project_root())) {
            Some(true)
        } else if stem.starts_with("invalid-") {
            Some(false)
        } else {
            None
        };
        let bytes = std::fs::read(file).unwrap();
        let copy = fuzz.dir.path().join("corpus").join(file.file_name().unwrap());
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::write(&copy, &bytes).unwrap();
        let valid = fuzz.load(&copy, &bytes, None);
        if must.is_some_and(|must| must != valid) {
            let verb = if valid { "validates" } else { "is rejected" };
            fuzz.fail(format!("the seed {} {verb}", file.display()), &bytes);
        }
        seeds.push(bytes);
    }
    let corpus_count = files.len();

    // 2. Arbitrary bytes: random, and the seeds mutated.
    let byte_inputs = cases * 7;
    for i in 0..byte_inputs {
        let bytes = if fuzz.rng.chance(25) { fuzz.rng.random_bytes() } else { fuzz.rng.mutate(&seeds) };
        let stem = if fuzz.rng.chance(2) { format!("Bad_Name{i}") } else { format!("b{i}") };
        let path = fuzz.dir.path().join("bytes").join(format!("{stem}.toml"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        if fuzz.load(&path, &bytes, None) && seeds.len() < 400 {
            seeds.push(bytes); // a valid mutant seeds further mutations
        }
    }

    // 3. Generated specs, mostly valid, full of hostile text.
    let mut with_mistake = 0;
    for i in 0..cases {
        let generated = generate(&mut fuzz.rng, i);
        with_mistake += usize::from(generated.mistake.is_some());
        let text = generated.toml(&mut fuzz.rng);
        let path = fuzz.dir.path().join("gen").join(format!("{}.toml", generated.name));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        fuzz.load(&path, text.as_bytes(), Some(&generated));
    }
    fuzz.flush();

    let s = &fuzz.stats;
    eprintln!(
        "fuzz: seed {seed:#x}: {corpus_count} corpus seeds, {byte_inputs} byte inputs ({} valid), {cases} generated specs \
         ({with_mistake} with a mistake, {} valid); {} valid labs planned, rendered and checked through Nix, Python, \
         shell, JSON, JUnit, Markdown and the terminal report ({} probes); {} panics, {} property failures; \
         {:.1?} ({:.1?} rendering and checking it)",
        s.valid_bytes,
        s.valid_generated,
        s.rendered,
        s.probes,
        s.panics,
        fuzz.failures.len() - s.panics,
        started.elapsed(),
        s.rendering,
    );
    assert!(fuzz.failures.is_empty(), "{} fuzz failures:\n{}", fuzz.failures.len(), fuzz.failures.join("\n\n"));
    // The budget must exercise what it claims to.
    assert!(s.valid_generated * 2 > cases, "most generated specs validate: {} of {cases}", s.valid_generated);
    assert!(s.valid_bytes > 0 && s.rendered > cases / 2, "{:?}", (s.valid_bytes, s.rendered));
}

fn env_number(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

#[derive(Default)]
struct Stats {
    valid_bytes: usize,
    valid_generated: usize,
    rendered: usize,
    probes: usize,
    panics: usize,
    /// Time spent rendering and in nix-instantiate, python3 and sh.
    rendering: Duration,
}

/// The run: where inputs are written, the labs waiting to be rendered, what failed.
struct Fuzz {
    rng: Rng,
    dir: tempfile::TempDir,
    pending: Vec<Lab>,
    batches: usize,
    failures: Vec<String>,
    stats: Stats,
}

impl Fuzz {
    fn new(seed: u64) -> Fuzz {
        Fuzz {
            rng: Rng { state: seed, seed },
            dir: tempfile::tempdir().unwrap(),
            pending: Vec::new(),
            batches: 0,
            failures: Vec::new(),
            stats: Stats::default(),
        }
    }

    fn failures_dir(&self) -> PathBuf {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures").join(format!("{:#x}", self.rng.seed))
    }

    /// Records a failing input, saved where it can be added to the corpus.
    fn fail(&mut self, what: String, input: &[u8]) {
        let dir = self.failures_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let saved = dir.join(format!("failure-{}.toml", self.failures.len()));
        std::fs::write(&saved, input).unwrap();
        self.failures.push(format!("{what}\n  input saved as {}", saved.display()));
    }

    /// Validates the spec at `path` (holding `bytes`); a valid one is planned
    /// at once and rendered with its batch. Returns whether it validated.
    fn load(&mut self, path: &Path, bytes: &[u8], generated: Option<&Generated>) -> bool {
        let loaded = catch_unwind(|| spec::load(path));
        let result = match loaded {
            Ok(r) => r,
            Err(panic) => {
                self.stats.panics += 1;
                self.fail(format!("spec::load panicked on {}: {}", path.display(), panic_text(&*panic)), bytes);
                return false;
            }
        };
        if let Some(problem) = generated.and_then(|g| g.judge(&result)) {
            self.fail(format!("generated spec {}: {problem}", path.display()), bytes);
        }
        let lab = match result {
            Ok(lab) => lab,
            Err(errors) => {
                for e in errors.iter() {
                    if let Some(problem) = error_problem(path, e) {
                        self.fail(format!("the error for {} {problem}:\n{e}", path.display()), bytes);
                    }
                }
                return false;
            }
        };
        match generated {
            Some(_) => self.stats.valid_generated += 1,
            None => self.stats.valid_bytes += 1,
        }
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| in_process_checks(&lab, &mut self.rng))) {
            self.stats.panics += 1;
            self.fail(format!("planning or diagnosing {} panicked: {}", path.display(), panic_text(&*panic)), bytes);
            return true;
        }
        match catch_unwind(AssertUnwindSafe(|| matrix_rewrite_problems(&lab))) {
            Ok(problems) => {
                for p in problems {
                    self.fail(format!("{}: {p}", path.display()), bytes);
                }
            }
            Err(panic) => {
                self.stats.panics += 1;
                self.fail(format!("matrix::for_system on {} panicked: {}", path.display(), panic_text(&*panic)), bytes);
            }
        }
        match catch_unwind(AssertUnwindSafe(|| report_problems(&lab, &mut self.rng))) {
            Ok(problems) => {
                for problem in problems.into_iter().take(3) {
                    self.fail(format!("the report of {}: {problem}", path.display()), bytes);
                }
            }
            Err(panic) => {
                self.stats.panics += 1;
                self.fail(format!("reporting a run of {} panicked: {}", path.display(), panic_text(&*panic)), bytes);
            }
        }
        // A lab of another host architecture is left out of the flake.
        if !xtask::render::renderable(&lab) {
            return true;
        }
        self.pending.push(lab);
        if self.pending.len() >= BATCH {
            self.flush();
        }
        true
    }

    /// Renders the pending labs into one flake and checks it with one
    /// nix-instantiate, one python3 and one sh process.
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let labs = std::mem::take(&mut self.pending);
        let started = Instant::now();
        self.batches += 1;
        let out = self.dir.path().join(format!("render-{}", self.batches));
        let rendered = catch_unwind(AssertUnwindSafe(|| {
            Render { root: &xtask::project_root(), labs: &labs, with_specs: false, with_modules: true }.files()
        }));
        let files = match rendered {
            Ok(Ok(files)) => files,
            Ok(Err(e)) => {
                for lab in &labs {
                    self.fail(
                        format!("render of a batch with {} failed: {e:#}", lab.path.display()),
                        &std::fs::read(&lab.path).unwrap(),
                    );
                }
                return;
            }
            Err(panic) => {
                self.stats.panics += 1;
                let text = panic_text(&*panic);
                for lab in &labs {
                    self.fail(
                        format!("render of a batch with {} panicked: {text}", lab.path.display()),
                        &std::fs::read(&lab.path).unwrap(),
                    );
                }
                return;
            }
        };
        for file in &files {
            let path = out.join(&file.path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, &file.text).unwrap();
        }
        self.stats.rendered += labs.len();
        self.stats.probes += labs.iter().map(|l| Plan::new(l, VM_HOST_ARCH).probes.len()).sum::<usize>();
        for (lab, problem) in check_rendered(&out, &labs) {
            let input = std::fs::read(&lab.path).unwrap();
            self.fail(format!("rendered {}: {problem}", lab.path.display()), &input);
        }
        self.stats.rendering += started.elapsed();
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".into())
}

/// What is wrong with a rejection's error, if anything: it must name the
/// file, the key where there is one, and say how to fix it, in a message a
/// terminal shows as it is and a person reads to the end.
fn error_problem(path: &Path, e: &spec::SpecError) -> Option<String> {
    let shown = e.to_string();
    if shown.len() > 2000 {
        return Some(format!("is {} bytes long", shown.len()));
    }
    if let Some(c) = shown.chars().find(|&c| c.is_control() && c != '\n') {
        return Some(format!("holds a raw {c:?}"));
    }
    if e.file != path {
        return Some(format!("names `{}`, not the file", e.file.display()));
    }
    if !shown.contains(&path.display().to_string()) {
        return Some("does not show the file".into());
    }
    if e.message.trim().is_empty() {
        return Some("has no message".into());
    }
    if e.help.as_deref().is_none_or(|h| h.trim().is_empty()) {
        return Some("says nothing about how to fix it".into());
    }
    if let Some(key) = &e.key {
        if !shown.contains(&format!("`{key}`")) {
            return Some(format!("does not show its key `{key}`"));
        }
    }
    if let Some(rest) = e.message.strip_prefix("TOML syntax error at line ") {
        let line: usize = rest.split(',').next().unwrap().parse().unwrap();
        let lines = std::fs::read(path).unwrap().iter().filter(|&&b| b == b'\n').count() + 1;
        if line == 0 || line > lines {
            return Some(format!("points at line {line} of a file of {lines} lines"));
        }
    }
    None
}

/// Planning for any host, diagnosing any outcome: nothing may panic.
fn in_process_checks(lab: &Lab, rng: &mut Rng) {
    for arch in ["x86_64", "aarch64", "riscv64", "s390x", "powerpc64", "mips64", "arm"] {
        let plan = Plan::new(lab, arch);
        for probe in &plan.probes {
            let v = verdict(probe, rng, 50);
            let _ = xtask::diagnose::diagnose(&plan, &v);
        }
    }
}

/// `lab matrix` rewrites a lab's TOML for each system: for one of its own
/// systems the result validates, and its text is the spec's.
fn matrix_rewrite_problems(lab: &Lab) -> Vec<String> {
    let mut problems = Vec::new();
    for &system in &lab.systems {
        match xtask::matrix::for_system(lab, system) {
            Ok(rewritten) => {
                if rewritten.description != lab.description {
                    problems.push(format!("for_system({}) changed the description", system.double));
                }
                // Distinct paths: the substitution writes a listed-twice interpreter once.
                let distinct = |paths: &[String]| paths.iter().collect::<BTreeSet<_>>().len();
                if distinct(&rewritten.nix.extra_sandbox_paths) != distinct(&lab.nix.extra_sandbox_paths) {
                    problems.push(format!("for_system({}) changed the sandbox paths", system.double));
                }
                let texts = |l: &Lab| -> Vec<(Option<String>, Option<spec::ExpectOutput>)> {
                    l.probes
                        .iter()
                        .filter(|p| p.systems.as_ref().is_none_or(|s| s.contains(&system)))
                        .map(|p| (p.run.clone(), p.expect_output.clone()))
                        .collect()
                };
                if texts(&rewritten) != texts(lab) {
                    problems.push(format!("for_system({}) changed a probe's run or expect-output", system.double));
                }
            }
            // Only a lab none of whose probes runs for the system may be refused.
            Err(e) if lab.probes.iter().all(|p| p.systems.as_ref().is_some_and(|s| !s.contains(&system))) => {
                if !e.to_string().contains("none of its probes runs") {
                    problems.push(format!("for_system({}) says: {e:#}", system.double));
                }
            }
            Err(e) => problems.push(format!("for_system({}) rejects the lab's own system: {e:#}", system.double)),
        }
    }
    // Another system may be refused, never panic.
    let _ = xtask::matrix::for_system(lab, &SYSTEMS[lab.description.len() % SYSTEMS.len()]);
    problems
}

/// A verdict for `probe` with made-up, hostile output; `meets` percent of the
/// time an outcome that meets the expectation (so that rows work, and the
/// matrix quotes the expected output of a failure that is as reported).
fn verdict(probe: &Probe, rng: &mut Rng, meets: usize) -> Verdict {
    let raw = if rng.chance(50) { rng.hostile(true).into_bytes() } else { rng.random_bytes() };
    // As process.rs decodes probe output: NUL dropped, invalid UTF-8 replaced.
    let mut output = String::from_utf8_lossy(&raw.into_iter().filter(|&b| b != 0).collect::<Vec<_>>()).into_owned();
    let meets = rng.chance(meets);
    let timed_out = !meets && rng.chance(10);
    let exit_code = match (meets, timed_out) {
        (true, _) => Some(if probe.expect.status == Expect::Pass { 0 } else { 1 }),
        (false, true) => None,
        (false, false) => Some(*rng.pick(&[0, 0, 1, 2, 126, 127, 255])),
    };
    if meets {
        for text in &probe.expect.contains {
            output = format!("{output}\n{text}\n");
        }
        if let Some(line) = &probe.expect.line {
            output = format!("{output}\n{line}\n");
        }
    }
    let execution = Execution {
        exit_code,
        signal: if timed_out { Some(9) } else { None },
        timed_out,
        duration: Duration::from_millis(rng.below(100_000) as u64),
        output,
    };
    xtask::outcome::judge(probe, execution)
}

/// JSON, JUnit, Markdown and terminal report of a made-up run of `lab`.
fn report_problems(lab: &Lab, rng: &mut Rng) -> Vec<String> {
    let mut problems = Vec::new();
    let plan = Plan::new(lab, std::env::consts::ARCH);
    let report = LabReport {
        lab: lab.name.clone(),
        backend: "host",
        verdicts: {
            let meets = if rng.chance(50) { 100 } else { 30 };
            plan.probes.iter().map(|p| verdict(p, rng, meets)).collect()
        },
        versions: None,
    };
    let json = serde_json::to_string(&report.to_json_diagnosed(&plan)).unwrap();
    let back: Json = serde_json::from_str(&json).unwrap();
    for (v, p) in report.verdicts.iter().zip(back["probes"].as_array().unwrap()) {
        if p["output"].as_str() != Some(xtask::text::tail(&v.execution.output, 4000).as_str())
            || p["id"] != v.probe.id()
        {
            problems.push(format!("JSON does not carry {}'s output", v.probe.id()));
        }
    }

    let xml = junit::render(&[(&plan, &report)]);
    match roxmltree::Document::parse(&xml) {
        Ok(doc) => {
            let cases = doc.descendants().filter(|n| n.has_tag_name("testcase")).count();
            let failures = doc.descendants().filter(|n| n.has_tag_name("failure")).count();
            if cases != report.verdicts.len() || failures != report.verdicts.iter().filter(|v| !v.as_expected).count() {
                problems.push(format!("JUnit has {cases} testcases and {failures} failures"));
            }
            let description = doc
                .descendants()
                .find(|n| n.has_tag_name("property") && n.attribute("name") == Some("description"))
                .and_then(|n| n.attribute("value"));
            if description != Some(xml_visible(&lab.description).as_str()) {
                problems.push("JUnit's description property is not the lab's".into());
            }
        }
        Err(e) => problems.push(format!("JUnit XML does not parse: {e}")),
    }

    let rows = xtask::matrix::rows_of(&plan, &report);
    let markdown = xtask::matrix::markdown(&rows);
    // GitHub splits a row at every `|` not right after a backslash, and
    // ignores cells beyond the header's: count them in the text too.
    let delimiters = |line: &str| line.match_indices('|').filter(|(i, _)| !line[..*i].ends_with('\\')).count();
    match markdown_table(&markdown) {
        Ok(table)
            if table.len() == rows.len() + 1
                && table.iter().all(|r| r.len() == 5)
                && markdown.lines().count() == rows.len() + 2
                && markdown.lines().all(|l| delimiters(l) == 6) => {}
        Ok(table) => problems.push(format!(
            "the Markdown matrix has rows of {:?} cells, not {} rows of 5:\n{markdown}",
            table.iter().map(Vec::len).collect::<Vec<_>>(),
            rows.len() + 1
        )),
        Err(e) => problems.push(format!("the Markdown matrix is not one table: {e}\n{markdown}")),
    }

    let terminal = format!("{}{}", report::table(&report, false), report::surprises(&plan, &report, false));
    let raw = |c: char| c.is_control() && c != '\n' && c != '\t';
    if let Some(line) = terminal.lines().find(|l| l.contains(raw)) {
        problems
            .push(format!("the terminal report shows a raw {:?} in {line:?}", line.chars().find(|&c| raw(c)).unwrap()));
    }
    problems
}

/// How JUnit shows text: characters XML 1.0 cannot hold become visible escapes.
fn xml_visible(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'.. => c.to_string(),
            c if (c as u32) < 0x100 => format!("\\x{:02x}", c as u32),
            c => format!("\\u{{{:x}}}", c as u32),
        })
        .collect()
}

/// The cells of each row of the one table in `markdown`, as GitHub reads it.
pub fn markdown_table(markdown: &str) -> Result<Vec<Vec<String>>, String> {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut tables = 0;
    let mut in_cell = false;
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Table(_)) => tables += 1,
            Event::Start(Tag::TableHead | Tag::TableRow) => rows.push(Vec::new()),
            Event::Start(Tag::TableCell) => {
                in_cell = true;
                rows.last_mut().ok_or("a cell outside a row")?.push(String::new());
            }
            Event::End(TagEnd::TableCell) => in_cell = false,
            Event::Text(t) | Event::Code(t) | Event::InlineHtml(t) | Event::Html(t) if in_cell => {
                rows.last_mut().unwrap().last_mut().unwrap().push_str(&t);
            }
            Event::Start(Tag::Paragraph) if tables > 0 => return Err("text after the table".into()),
            _ => {}
        }
    }
    if tables != 1 {
        return Err(format!("{tables} tables"));
    }
    Ok(rows)
}

/// Evaluates every rendered lab and the flake with one nix-instantiate,
/// compiles every testScript and reads its steps back with one python3, and
/// runs the nix-config probes' commands with a stand-in `nix`.
fn check_rendered<'a>(out: &Path, labs: &'a [Lab]) -> Vec<(&'a Lab, String)> {
    let mut problems = Vec::new();
    let names: Vec<String> = labs.iter().map(|l| serde_json::to_string(&l.name).unwrap()).collect();
    let dir = serde_json::to_string(&out.display().to_string()).unwrap();
    let expr = format!(
        r#"let
  pkgs = {{ testers.runNixOSTest = test: test; }};
  lab = name:
    let
      test = import ({dir} + "/checks/${{name}}.nix") {{ inherit pkgs; }};
      node = test.nodes.machine {{ pkgs = {{ }}; }};
    in {{
      inherit (test) name;
      description = node.crosslab.description;
      inherit (node.nix.settings) sandbox extra-sandbox-paths extra-platforms;
      emulated = node.boot.binfmt.emulatedSystems or [ ];
      payloads = builtins.attrNames node.crosslab.payloadDebs;
      script = test.testScript {{ nodes.machine.crosslab.payloadsDir = "{PAYLOADS_DIR}"; nodes.machine.crosslab.toolchainsDir = "{TOOLCHAINS_DIR}"; }};
    }};
  flake = import ({dir} + "/flake.nix");
  outputs = flake.outputs {{ }};
in {{
  labs = map lab [ {} ];
  checks = builtins.attrNames outputs.checks.x86_64-linux;
  crossChecks = builtins.attrNames outputs.crossChecks.x86_64-linux;
}}"#,
        names.join(" ")
    );
    let out_nix = Command::new("nix-instantiate")
        .args(NO_STORE)
        .args(["--eval", "--strict", "--json", "--expr", &expr])
        .output()
        .unwrap();
    if !out_nix.status.success() {
        // Find the lab at fault: each file on its own.
        let stderr = String::from_utf8_lossy(&out_nix.stderr);
        for lab in labs {
            let file = out.join(format!("checks/{}.nix", lab.name));
            let parse = Command::new("nix-instantiate").args(NO_STORE).arg("--parse").arg(&file).output().unwrap();
            if !parse.status.success() {
                problems.push((
                    lab,
                    format!("checks/{}.nix does not parse: {}", lab.name, String::from_utf8_lossy(&parse.stderr)),
                ));
            }
        }
        if problems.is_empty() {
            problems.push((&labs[0], format!("the batch of {} labs does not evaluate: {stderr}", labs.len())));
        }
        return problems;
    }
    let evaluated: Json = serde_json::from_slice(&out_nix.stdout).unwrap();

    // Every lab a NixOS test can model is a check, under `checks` unless its
    // node builds from source (then under the opt-in `crossChecks`).
    let output = |l: &Lab| xtask::render::closure::output_of(&Plan::new(l, VM_HOST_ARCH));
    let cross = |l: &&Lab| output(l) == "crossChecks";
    let mut flake_checks: Vec<String> = labs.iter().filter(|l| output(l) == "checks").map(|l| l.name.clone()).collect();
    flake_checks.push("render_fresh".into());
    flake_checks.sort();
    let mut cross_checks: Vec<String> = labs.iter().filter(cross).map(|l| l.name.clone()).collect();
    cross_checks.sort();
    if evaluated["checks"] != json!(flake_checks) || evaluated["crossChecks"] != json!(cross_checks) {
        problems.push((
            &labs[0],
            format!("the flake's checks are {} and its crossChecks {}", evaluated["checks"], evaluated["crossChecks"]),
        ));
    }

    // The testScripts, as nixosTest gets them, through Python.
    let scripts = out.join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    let mut script_files = Vec::new();
    for (lab, node) in labs.iter().zip(evaluated["labs"].as_array().unwrap()) {
        if let Some(p) = node_problem(lab, node, out) {
            problems.push((lab, p));
        }
        let file = scripts.join(format!("{}.py", lab.name));
        std::fs::write(&file, node["script"].as_str().unwrap_or_default()).unwrap();
        script_files.push(file);
    }
    let py = Command::new(PYTHON).arg("-c").arg(READ_STEPS).args(&script_files).output().unwrap();
    assert!(py.status.success(), "the step reader failed: {}", String::from_utf8_lossy(&py.stderr));
    let steps: Vec<Json> = serde_json::from_slice(&py.stdout).unwrap();
    for (lab, got) in labs.iter().zip(&steps) {
        if let Some(p) = script_problem(lab, got) {
            problems.push((lab, p));
        }
    }

    // The plan's own shell: every command but a command probe's is valid sh,
    // and the nix-config probe finds each sandbox path, byte for byte.
    let mut functions = String::new();
    for (i, lab) in labs.iter().enumerate() {
        let plan = Plan::new(lab, VM_HOST_ARCH);
        for (j, command) in plan
            .registrations
            .iter()
            .map(|r| r.command())
            .chain(plan.probes.iter().filter(|p| p.kind != ProbeKind::Command).map(|p| p.command.clone()))
            .enumerate()
        {
            functions.push_str(&format!("f_{i}_{j}() {{\n{command}\n}}\n"));
        }
        if let Some(p) = nix_config_problem(&plan, out) {
            problems.push((lab, p));
        }
    }
    let sh_file = out.join("commands.sh");
    std::fs::write(&sh_file, &functions).unwrap();
    let syntax = Command::new("/bin/sh").arg("-n").arg(&sh_file).output().unwrap();
    if !syntax.status.success() {
        problems.push((
            &labs[0],
            format!("a planned command is not valid sh: {}", String::from_utf8_lossy(&syntax.stderr)),
        ));
    }
    problems
}

/// What is wrong with a lab's node and testScript as Nix evaluates them.
fn node_problem(lab: &Lab, node: &Json, out: &Path) -> Option<String> {
    let strings = |v: &Json| -> Vec<String> {
        v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
    };
    if node["name"] != lab.name.as_str() {
        return Some(format!("the test is named {}", node["name"]));
    }
    if node["description"] != lab.description.as_str() {
        return Some(format!("Nix's description is {:?}, the spec's {:?}", node["description"], lab.description));
    }
    if node["sandbox"] != lab.nix.sandbox {
        return Some("Nix's sandbox setting is not the spec's".into());
    }
    let paths = strings(&node["extra-sandbox-paths"]);
    if paths != lab.nix.extra_sandbox_paths {
        return Some(format!("Nix's extra-sandbox-paths are {paths:?}, the spec's {:?}", lab.nix.extra_sandbox_paths));
    }
    let platforms = strings(&node["extra-platforms"]);
    let emulated = strings(&node["emulated"]);
    if lab.binfmt.interpreter == Interpreter::Nixos {
        // NixOS's binfmt module adds the emulated systems (and i686-linux).
        let added = |p: &String| emulated.contains(p) || p == "i686-linux";
        if !platforms.iter().all(|p| lab.nix.extra_platforms.contains(p))
            || !lab.nix.extra_platforms.iter().all(|p| platforms.contains(p) || added(p))
        {
            return Some(format!(
                "Nix's extra-platforms {platforms:?} + emulated {emulated:?} are not the spec's {:?}",
                lab.nix.extra_platforms
            ));
        }
        // Every system but the host's own (which the spec rejects): the module
        // registers the ones the host runs natively too.
        let own = xtask::systems::own_system(VM_HOST_ARCH);
        let want: Vec<&str> = lab.systems.iter().filter(|s| Some(**s) != own).map(|s| s.double).collect();
        if emulated != want {
            return Some(format!("emulatedSystems are {emulated:?}, not {want:?}"));
        }
    } else {
        if platforms != lab.nix.extra_platforms {
            return Some(format!("Nix's extra-platforms are {platforms:?}, the spec's {:?}", lab.nix.extra_platforms));
        }
        if !emulated.is_empty() {
            return Some(format!("emulatedSystems {emulated:?} without interpreter = \"nixos\""));
        }
    }
    let payloads = strings(&node["payloads"]);
    if let Some(s) = lab.systems.iter().find(|s| !payloads.iter().any(|p| p == s.double)) {
        return Some(format!("no payload for {}", s.double));
    }
    let py = std::fs::read_to_string(out.join(format!("checks/{}.py", lab.name))).unwrap();
    let script = node["script"].as_str().unwrap_or_default();
    if !script.ends_with(&py) {
        return Some("the testScript does not end with checks/<lab>.py as written".into());
    }
    None
}

/// What is wrong with the testScript's steps as Python reads them back.
fn script_problem(lab: &Lab, got: &Json) -> Option<String> {
    if let Some(e) = got.get("error") {
        return Some(format!("the testScript does not compile or is not data: {e}"));
    }
    // Labs that compile also learn where the VM keeps the target toolchains.
    let compiles = lab.probes.iter().any(|p| p.kind == xtask::spec::ProbeKind::Compile);
    let tcg = xtask::render::TCG_SLOWDOWN;
    let prelude = if compiles {
        json!({ "payloads_dir": PAYLOADS_DIR, "toolchains_dir": TOOLCHAINS_DIR, "tcg_slowdown": tcg })
    } else {
        json!({ "payloads_dir": PAYLOADS_DIR, "tcg_slowdown": tcg })
    };
    if got["prelude"] != prelude {
        return Some(format!("the JSON prelude says {}", got["prelude"]));
    }
    let plan = Plan::new(lab, VM_HOST_ARCH);
    let steps = got["steps"].as_array().unwrap();
    let names: BTreeSet<&str> = steps.iter().filter_map(|s| s["subtest"].as_str()).collect();
    if names.len() != steps.len() {
        return Some("two subtests have the same name".into());
    }
    let registrations: Vec<String> = if lab.binfmt.interpreter == Interpreter::Fhs {
        plan.registrations.iter().map(|r| r.command()).collect()
    } else {
        Vec::new()
    };
    // The lab's [machine] state is one step after the registrations.
    let state: Vec<String> = plan.machine.command().into_iter().collect();
    if steps.len() != 1 + registrations.len() + state.len() + plan.probes.len() {
        return Some(format!(
            "{} steps for {} registrations, {} machine state and {} probes",
            steps.len(),
            registrations.len(),
            state.len(),
            plan.probes.len()
        ));
    }
    for (step, command) in steps[1..].iter().zip(registrations.iter().chain(&state)) {
        if step["succeed"] != command.as_str() {
            return Some(format!("the registration or state step runs {}, the plan {command:?}", step["succeed"]));
        }
    }
    let rendered_keys = xtask::render::RENDERED_KEYS.map(str::to_owned);
    let probes: Vec<_> = plan.probes.iter().map(|p| p.on(&rendered_keys)).collect();
    for (step, probe) in steps[1 + registrations.len() + state.len()..].iter().zip(&probes) {
        let want = json!({
            "subtest": step["subtest"].as_str().filter(|s| s.starts_with(&format!("{}: ", probe.id()))).unwrap_or("(the probe's id)"),
            "command": probe.command,
            "timeout": probe.timeout.as_secs(),
            "passes": probe.expect.status == Expect::Pass,
            "contains": probe.expect.contains,
            "line": probe.expect.line,
        });
        if *step != want {
            return Some(format!(
                "the testScript's step for {} means\n{step:#}\nbut the plan says\n{want:#}",
                probe.id()
            ));
        }
    }
    None
}

/// Runs the plan's first nix-config probe as the backends do (`/bin/sh -c`)
/// with a stand-in `nix` that prints the configuration it looks for: it must
/// pass, and without the sandbox paths fail naming the first one.
fn nix_config_problem(plan: &Plan, out: &Path) -> Option<String> {
    let probe = plan.probes.iter().find(|p| p.kind == ProbeKind::NixConfig)?;
    if plan.nix_conf.extra_sandbox_paths.is_empty() {
        return None;
    }
    let bin = out.join("fake-bin");
    if !bin.exists() {
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("nix"), "#!/bin/sh\ncat \"$FAKE_NIX_CONFIG\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("nix"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let run = |config: &str| {
        let file = out.join("nix-config.txt");
        std::fs::write(&file, config).unwrap();
        Command::new("/bin/sh")
            .arg("-c")
            .arg(&probe.command)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("FAKE_NIX_CONFIG", &file)
            .output()
            .unwrap()
    };
    let head = format!("sandbox = {}\nextra-platforms = {}\n", plan.nix_conf.sandbox, probe.system.double);
    let full = format!("{head}sandbox-paths = {}\n", plan.nix_conf.extra_sandbox_paths.join(" "));
    let ok = run(&full);
    if !ok.status.success() {
        return Some(format!(
            "the nix-config probe does not find its sandbox paths {:?} in\n{full}: {}",
            plan.nix_conf.extra_sandbox_paths,
            String::from_utf8_lossy(&ok.stdout)
        ));
    }
    let missing = run(&head);
    let first = &plan.nix_conf.extra_sandbox_paths[0];
    let want = format!("missing from sandbox-paths: {first}\n");
    // plan.rs says so with `echo`, whose dash builtin reads backslashes as
    // escapes: such a path is named mangled (reported; plan.rs is not ours).
    let exact = !first.contains('\\');
    if missing.status.code() != Some(1) || (exact && !missing.stdout.ends_with(want.as_bytes())) {
        return Some(format!(
            "without sandbox paths the nix-config probe says {:?}",
            String::from_utf8_lossy(&missing.stdout)
        ));
    }
    None
}

/// Reads each testScript given on the command line: compiles it, then reads
/// the JSON prelude and every subtest's steps back as data. A value that is
/// not a literal (or a `"\n".join` of literals) is an error: spec text must
/// never become code.
const READ_STEPS: &str = r#"
import ast, json, sys

def data(node):
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "join" and isinstance(node.func.value, ast.Constant)
            and node.func.value.value == "\n" and len(node.args) == 1
            and isinstance(node.args[0], ast.List) and not node.keywords):
        lines = [ast.literal_eval(e) for e in node.args[0].elts]
        assert all(isinstance(l, str) for l in lines), "a line that is not a string"
        return "\n".join(lines)
    return ast.literal_eval(node)

def read(tree):
    prelude, steps = None, []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "crosslab_node" for t in node.targets):
            prelude = json.loads(ast.literal_eval(node.value.args[0]))
        if not isinstance(node, ast.With):
            continue
        (item,) = node.items
        step = {"subtest": ast.literal_eval(item.context_expr.args[0])}
        for call in ast.walk(node):
            if not isinstance(call, ast.Call):
                continue
            name = getattr(call.func, "attr", getattr(call.func, "id", None))
            kw = {k.arg: k.value for k in call.keywords}
            if name == "succeed":
                step["succeed"] = data(call.args[0])
            elif name == "run_probe":
                step["command"] = data(call.args[0])
                step["timeout"] = ast.literal_eval(kw["timeout"])
            elif name == "check_outcome":
                for k in ("passes", "contains", "line"):
                    step[k] = ast.literal_eval(kw[k])
        steps.append(step)
    return {"prelude": prelude, "steps": steps}

results = []
for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
        compile(source, path, "exec")
        results.append(read(ast.parse(source, path)))
    except Exception as e:
        results.append({"error": f"{type(e).__name__}: {e}"})
json.dump(results, sys.stdout)
"#;

// ---------------------------------------------------------------------------
// Randomness: a small deterministic generator (splitmix64), so that a seed
// names a run.

struct Rng {
    state: u64,
    /// Where the sequence started.
    seed: u64,
}

/// Pieces of text that break naive quoting somewhere: Nix (`${`, `''`),
/// Python (`"""`, `\`), shell (`'`, `$(`), TOML, XML, Markdown, terminals.
const HOSTILE: &[&str] = &[
    "${",
    "}",
    "${x}",
    "''",
    "'''",
    "''${",
    "''\\",
    "$$",
    "$${x}",
    "$",
    "\\",
    "\\\\",
    "\\n",
    "\\u0000",
    "\"",
    "\"\"\"",
    "'",
    "'\\''",
    "`id`",
    "$(id)",
    "$HOME",
    "%s",
    "%n",
    "{{ x }}",
    "{%",
    "#",
    ";",
    "&&",
    "|",
    "||",
    "<",
    ">",
    "&",
    "&amp;",
    "]]>",
    "<!--",
    "-->",
    "<![CDATA[",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "\u{1b}[31m",
    "\u{1b}]0;title\u{7}",
    "\u{1b}[2J",
    "\u{7}",
    "\u{8}",
    "\u{b}",
    "\u{c}",
    "\u{7f}",
    "\u{85}",
    "\u{9b}",
    "\u{a0}",
    "\u{2028}",
    "\u{2029}",
    "\u{200b}",
    "\u{feff}",
    "\u{fffd}",
    "\u{fffe}",
    "\u{ffff}",
    "é",
    "日本",
    "𝄞",
    "🦀",
    "\u{10ffff}",
    "*",
    "_",
    "[",
    "]",
    "(",
    ")",
    "<br>",
    "\\|",
    "=",
    "?",
    "/",
    "..",
    "~",
    "-",
    "--",
    "-e",
    "0",
    "true",
    "null",
    "None",
    "import os",
    "os.system('id')",
    "builtins.abort \"x\"",
    "a",
    "word",
    " ",
];

impl Rng {
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Text made of hostile pieces; now and then very long.
    fn hostile(&mut self, newlines: bool) -> String {
        let mut s = String::new();
        for _ in 0..1 + self.below(12) {
            let piece = *self.pick(HOSTILE);
            if !newlines && piece.contains(['\n', '\r']) {
                continue;
            }
            s.push_str(piece);
        }
        if self.chance(2) {
            let piece = s.clone();
            s = piece.repeat(1 + 30_000 / piece.len().max(1));
        }
        if s.is_empty() {
            s.push('x');
        }
        s
    }

    fn random_bytes(&mut self) -> Vec<u8> {
        const TOKENS: &[&[u8]] = &[
            b"[[probe]]\n",
            b"[binfmt]\n",
            b"[nix]\n",
            b"kind = ",
            b"\"command\"",
            b"run = ",
            b"description = ",
            b"host = ",
            b"systems = [",
            b"\"aarch64-linux\"",
            b"]",
            b"\n",
            b"\"",
            b"'''",
            b"\"\"\"",
            b"=",
            b"{",
            b"}",
            b",",
            b".",
            b"#",
            b"\\u0000",
            b"\\",
            b"\xff",
            b"\xc3",
            b"\x00",
            b"${",
            b"''",
        ];
        let mut out = Vec::new();
        for _ in 0..self.below(64) {
            if self.chance(50) {
                let token: &[u8] = TOKENS[self.below(TOKENS.len())];
                out.extend_from_slice(token);
            } else {
                out.push(self.next() as u8);
            }
        }
        out
    }

    /// A seed with a few random edits: bytes flipped, inserted, deleted,
    /// duplicated, or spliced from another seed.
    fn mutate(&mut self, seeds: &[Vec<u8>]) -> Vec<u8> {
        let mut out = self.pick(seeds).clone();
        // The huge seeds are slow to parse in a debug build: mutate them seldom.
        while out.len() > 16 * 1024 && self.chance(90) {
            out = self.pick(seeds).clone();
        }
        for _ in 0..1 + self.below(4) {
            let at = self.below(out.len() + 1);
            match self.below(7) {
                0 if !out.is_empty() => {
                    let i = at.min(out.len() - 1);
                    out[i] ^= 1 << self.below(8);
                }
                1 => out.insert(at, self.next() as u8),
                2 => {
                    let end = (at + self.below(16)).min(out.len());
                    out.drain(at..end);
                }
                3 => {
                    let end = (at + self.below(64)).min(out.len());
                    let piece = out[at..end].to_vec();
                    out.splice(at..at, piece);
                }
                4 => {
                    let other = self.pick(seeds);
                    let from = self.below(other.len() + 1);
                    let end = (from + self.below(200)).min(other.len());
                    out.splice(at..at, other[from..end].iter().copied());
                }
                5 => {
                    let piece = self.pick(HOSTILE).as_bytes().to_vec();
                    out.splice(at..at, piece);
                }
                _ => out.truncate(at),
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Generated specs: a model of the spec, written as TOML in one of many forms,
// and the mistake (if any) the generator put in.

#[derive(Clone, Debug)]
enum Val {
    Str(String),
    Int(i64),
    Bool(bool),
    Float(f64),
    List(Vec<Val>),
    /// An inline table (`expect-output = { default = "…", trixie = "…" }`).
    Table(Entries),
}

type Entries = Vec<(String, Val)>;

struct Generated {
    name: String,
    top: Entries,
    binfmt: Entries,
    nix: Entries,
    machine: Entries,
    probes: Vec<Entries>,
    /// `probe = <this>` instead of the probe tables.
    probe_value: Option<Val>,
    /// The dotted key whose error the spec must be rejected with.
    mistake: Option<String>,
}

fn s(text: impl AsRef<str>) -> Val {
    Val::Str(text.as_ref().to_owned())
}

fn strs(items: &[&str]) -> Val {
    Val::List(items.iter().map(s).collect())
}

/// A valid spec, then maybe one mistake in it.
fn generate(rng: &mut Rng, i: usize) -> Generated {
    let first = if rng.chance(20) { (b'0' + rng.below(10) as u8) as char } else { 'g' };
    let tail: String = (0..rng.below(6)).map(|_| *rng.pick(&['a', 'z', '0', '9', '-'])).collect();
    let name = format!("{first}{i}{tail}");
    let nixos = rng.chance(40);
    let interpreter: Option<&str> = if nixos {
        *rng.pick(&[None, Some("nixos"), Some("nixos"), Some("fhs"), Some("none")])
    } else {
        *rng.pick(&[None, Some("fhs"), Some("none")])
    };
    let effective = interpreter.unwrap_or(if nixos { "nixos" } else { "fhs" });
    // NixOS asserts that the host's own system is not emulated (the spec says so).
    let own = xtask::systems::own_system(std::env::consts::ARCH);
    let candidates: Vec<&'static NixSystem> = SYSTEMS
        .iter()
        .filter(|s| effective != "nixos" || ((s.nixos_emulated || s.is_native_here()) && Some(*s) != own))
        .collect();
    let mut systems: Vec<&'static str> = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let s = rng.pick(&candidates).double;
        if !systems.contains(&s) {
            systems.push(s);
        }
    }

    let mut description = rng.hostile(true);
    if description.trim().is_empty() {
        description.push('d');
    }
    let top: Entries = vec![
        ("description".into(), Val::Str(description)),
        ("host".into(), s(if nixos { "nixos" } else { "non-nixos" })),
        ("systems".into(), strs(&systems)),
    ];
    let mut binfmt: Entries = Vec::new();
    if let Some(interp) = interpreter {
        binfmt.push(("interpreter".into(), s(interp)));
    }
    match effective {
        "none" => {}
        "nixos" => {
            // NixOS's flags follow from the emulator: P for the dynamic one
            // (the default), PF for the static one.
            let emulator = *rng.pick(&[None, Some("dynamic"), Some("static")]);
            if let Some(e) = emulator {
                binfmt.push(("emulator".into(), s(e)));
            }
            let flags: &[Option<&str>] =
                if emulator == Some("static") { &[None, Some("PF"), Some("FP")] } else { &[None, Some("P")] };
            if let Some(f) = *rng.pick(flags) {
                binfmt.push(("flags".into(), s(f)));
            }
        }
        _ => {
            if rng.chance(80) {
                let mut flags: Vec<char> = "POCF".chars().filter(|_| rng.chance(50)).collect();
                for k in 0..flags.len() {
                    let j = rng.below(flags.len());
                    flags.swap(k, j);
                }
                binfmt.push(("flags".into(), s(flags.iter().collect::<String>())));
            }
        }
    }
    let mut nix: Entries = Vec::new();
    if rng.chance(50) {
        nix.push(("sandbox".into(), Val::Bool(rng.chance(50))));
    }
    if rng.chance(60) {
        let paths: Vec<Val> = (0..rng.below(4)).map(|_| Val::Str(sandbox_path(rng))).collect();
        nix.push(("extra-sandbox-paths".into(), Val::List(paths)));
    }
    let single_user = rng.chance(20);
    if single_user || rng.chance(20) {
        nix.push(("mode".into(), s(if single_user { "single-user" } else { "daemon" })));
    }
    if !single_user && rng.chance(20) {
        nix.push(("trusted-users".into(), strs(&["root", "crosslab", "@wheel"][..1 + rng.below(3)])));
    }
    if rng.chance(30) {
        let platforms: Vec<&str> = (0..rng.below(3)).map(|_| rng.pick(SYSTEMS).double).collect();
        nix.push(("extra-platforms".into(), strs(&platforms)));
    }

    const FEATURES: &[&str] = &["kvm", "big-parallel", "gccarch-armv7-a", "nixos-test", "benchmark", "uid-range"];
    let offered: Option<Vec<&str>> =
        rng.chance(30).then(|| FEATURES.iter().copied().filter(|_| rng.chance(50)).collect());
    if let Some(f) = &offered {
        nix.push(("system-features".into(), strs(f)));
    }
    // [machine]: not-mounted only where nothing is registered.
    let mut machine: Entries = Vec::new();
    if rng.chance(20) {
        let states: &[&str] = if effective == "none" { &["mounted", "not-mounted"] } else { &["mounted"] };
        machine.push(("binfmt-misc".into(), s(rng.pick(states))));
    }
    if rng.chance(20) {
        machine.push(("proc".into(), s(rng.pick(&["visible", "partly-hidden"]))));
    }
    if rng.chance(20) {
        let paths: Vec<&str> =
            ["/run/binfmt", "/run/user", "/run/a b/ä"].into_iter().filter(|_| rng.chance(50)).collect();
        machine.push(("missing".into(), strs(&paths)));
    }

    const CPUS: &[&str] = &["arm926", "arm1176", "cortex-a15", "max", "rv64,v=true", "Skylake-Client-v1", "a.b_c=d+e"];
    let mut probes: Vec<Entries> = Vec::new();
    for _ in 0..1 + rng.below(4) {
        // Every kind of the one table, each with the keys its row says it takes.
        let row = rng.pick(&spec::PROBE_KINDS);
        let kind = row.name;
        let mut p: Entries = vec![("kind".into(), s(kind))];
        let mut expect = rng.chance(40).then(|| *rng.pick(&["pass", "fail"]));
        let mut texts = Vec::new();
        if rng.chance(40) {
            let mut text = rng.hostile(true);
            if rng.chance(30) {
                text = format!("{text}\n{}", rng.hostile(false)); // the matrix quotes it
            }
            if rng.chance(30) {
                // By stack or Nix version: a table of texts.
                let mut table: Entries = Vec::new();
                for key in ["default", "host", "bookworm", "trixie", "nixos", "nix-2.8", "nix-2.26"] {
                    if rng.chance(40) {
                        let t = rng.hostile(true);
                        texts.push(t.clone());
                        table.push((key.into(), Val::Str(t)));
                    }
                }
                if table.is_empty() {
                    texts.push(text.clone());
                    table.push(("default".into(), Val::Str(text)));
                }
                p.push(("expect-output".into(), Val::Table(table)));
            } else {
                texts.push(text.clone());
                p.push(("expect-output".into(), Val::Str(text)));
            }
        }
        // A text only a failing run prints, or a machine name, is expected of a failing run.
        let impossible = texts
            .iter()
            .any(|t| spec::FAILURE_TEXTS.iter().any(|f| t.contains(f)) || SYSTEMS.iter().any(|s| s.uname == t.trim()));
        let mut features: Vec<&str> = Vec::new();
        if row.features && rng.chance(25) {
            features = FEATURES.iter().copied().filter(|_| rng.chance(40)).collect();
        }
        let lacking = offered.as_ref().is_some_and(|o| features.iter().any(|f| !o.contains(f)));
        if (impossible || lacking) && expect != Some("fail") {
            expect = Some("fail");
        }
        if let Some(e) = expect {
            p.insert(1, ("expect".into(), s(e)));
        }
        if !features.is_empty() || (row.features && rng.chance(5)) {
            p.push(("required-system-features".into(), strs(&features)));
        }
        if row.run {
            let mut run = rng.hostile(true);
            if run.trim().is_empty() {
                run.push_str("true");
            }
            p.push(("run".into(), Val::Str(run)));
        }
        if rng.chance(20) {
            p.push(("timeout".into(), Val::Int(*rng.pick(&[1, 2, 120, 3600, 86_400]))));
        }
        if rng.chance(25) {
            let mut only: Vec<&str> = systems.iter().copied().filter(|_| rng.chance(60)).collect();
            if only.is_empty() {
                only.push(systems[0]);
            }
            p.push(("systems".into(), strs(&only)));
        }
        if row.payload && rng.chance(25) {
            p.push(("payload".into(), s(rng.pick(SYSTEMS).double)));
        }
        if row.qemu_cpu && rng.chance(20) {
            p.push(("qemu-cpu".into(), s(rng.pick(CPUS))));
        }
        if row.language && rng.chance(30) {
            p.push(("language".into(), s(rng.pick(&spec::Language::ALL).as_str())));
        }
        // Nix settings: one word for a name, a value on one line.
        const SETTINGS: &[(&str, &str)] =
            &[("sandbox", "false"), ("extra-sandbox-paths", "/usr/bin/qemu-aarch64-static /x?"), ("max-jobs", "1")];
        let settings = |rng: &mut Rng| -> Val {
            let (k, v) = *rng.pick(SETTINGS);
            Val::Table(vec![(k.to_owned(), s(v))])
        };
        if row.nix_options && rng.chance(25) {
            p.push(("nix-options".into(), settings(rng)));
        }
        if row.edit {
            p.push(("set".into(), settings(rng)));
            if rng.chance(50) {
                p.push(("restart-daemon".into(), Val::Bool(rng.chance(50))));
            }
        }
        probes.push(p);
    }

    let mut g = Generated { name, top, binfmt, nix, machine, probes, probe_value: None, mistake: None };
    if rng.chance(25) {
        g.mistake = Some(add_mistake(rng, &mut g, &systems, nixos, effective));
    }
    g
}

/// An absolute path without white space, full of hostile text (`=` for
/// Nix's `target=source` form, `?` for an optional path).
fn sandbox_path(rng: &mut Rng) -> String {
    fn part(rng: &mut Rng) -> String {
        // Under PATH_MAX (4095 bytes) for each side of `=`.
        let mut text = String::from("/");
        for c in rng.hostile(false).chars().filter(|c| !c.is_whitespace() && *c != '=') {
            if text.len() + c.len_utf8() > 4000 {
                break;
            }
            text.push(c);
        }
        text
    }
    let mut path = part(rng);
    if rng.chance(15) {
        path = format!("{path}={}", part(rng));
    }
    if rng.chance(10) {
        path.push('?');
    }
    path
}

/// Puts one mistake into a valid spec; returns the key its error must name.
fn add_mistake(rng: &mut Rng, g: &mut Generated, systems: &[&str], nixos: bool, interpreter: &str) -> String {
    fn set(entries: &mut Entries, key: &str, value: Val) {
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value,
            None => entries.push((key.to_owned(), value)),
        }
    }
    let p = rng.below(g.probes.len());
    let kind = match &g.probes[p][0].1 {
        Val::Str(k) => k.clone(),
        _ => unreachable!(),
    };
    let probe = format!("probe[{p}]");
    let other_system = SYSTEMS.iter().map(|s| s.double).find(|d| !systems.contains(d)).unwrap();
    loop {
        match rng.below(32) {
            0 => {
                set(&mut g.top, "description", Val::Str(format!("{}\0{}", rng.hostile(true), rng.hostile(true))));
                return "description".into();
            }
            1 => {
                set(&mut g.top, "description", s(rng.pick(&["", " ", "\t\n", "\u{3000}"])));
                return "description".into();
            }
            2 => {
                let key = *rng.pick(&["descripton", "hosts", "system", "probes", "flags", "x"]);
                g.top.push((key.into(), s("x")));
                return key.into();
            }
            3 => {
                set(&mut g.top, "host", s(rng.pick(&["ubuntu", "NixOS", "", "non-nixos "])));
                return "host".into();
            }
            4 => {
                set(&mut g.top, "host", Val::Int(1));
                return "host".into();
            }
            5 => {
                if rng.chance(50) {
                    set(&mut g.top, "systems", Val::List(Vec::new()));
                } else {
                    g.top.retain(|(k, _)| k != "systems");
                }
                return "systems".into();
            }
            6 => {
                let mut list: Vec<Val> = systems.iter().map(s).collect();
                let at = rng.below(list.len() + 1);
                let bad = rng
                    .pick(&["arm64-linux", "x86_64-darwin", "x86_64-windows", "aarch64", "AARCH64-LINUX"])
                    .to_string();
                list.insert(at, Val::Str(bad));
                set(&mut g.top, "systems", Val::List(list));
                return format!("systems[{at}]");
            }
            7 => {
                let mut list: Vec<Val> = systems.iter().map(s).collect();
                list.push(s(rng.pick(systems)));
                let at = list.len() - 1;
                set(&mut g.top, "systems", Val::List(list));
                return format!("systems[{at}]");
            }
            8 => {
                let mut list: Vec<Val> = systems.iter().map(s).collect();
                let at = rng.below(list.len());
                list[at] = Val::Int(64);
                set(&mut g.top, "systems", Val::List(list));
                return format!("systems[{at}]");
            }
            9 => {
                set(&mut g.binfmt, "interpreter", s(rng.pick(&["qemu", "FHS", "static"])));
                return "binfmt.interpreter".into();
            }
            10 if !nixos => {
                set(&mut g.binfmt, "interpreter", s("nixos"));
                g.binfmt.retain(|(k, _)| k != "flags");
                return "binfmt.interpreter".into();
            }
            11 if interpreter != "none" => {
                set(&mut g.binfmt, "flags", s(rng.pick(&["p", "PP", "P O", "X", "POCFF"])));
                return "binfmt.flags".into();
            }
            12 if interpreter == "none" => {
                set(&mut g.binfmt, "flags", s("P"));
                return "binfmt.flags".into();
            }
            13 => {
                g.binfmt.push(("flag".into(), s("P")));
                return "binfmt.flag".into();
            }
            14 => {
                set(&mut g.nix, "sandbox", s("yes"));
                return "nix.sandbox".into();
            }
            15 => {
                let mut paths: Vec<Val> = match g.nix.iter().find(|(k, _)| k == "extra-sandbox-paths") {
                    Some((_, Val::List(l))) => l.clone(),
                    _ => Vec::new(),
                };
                let at = rng.below(paths.len() + 1);
                let bad = rng
                    .pick(&["/usr/bin/qemu aarch64", "/a\nb", "/a\u{a0}b", "usr/bin", "", "/a=b", "/a\0b", "relative?"])
                    .to_string();
                paths.insert(at, Val::Str(bad));
                set(&mut g.nix, "extra-sandbox-paths", Val::List(paths));
                return format!("nix.extra-sandbox-paths[{at}]");
            }
            16 => {
                set(&mut g.nix, "extra-platforms", strs(&[*rng.pick(&["arm64", "aarch64-darwin", ""])]));
                return "nix.extra-platforms[0]".into();
            }
            17 => {
                if rng.chance(50) {
                    g.probe_value = Some(Val::List(Vec::new()));
                } else {
                    g.probes.clear();
                }
                return "probe".into();
            }
            18 => {
                g.probe_value = Some(s("exec"));
                return "probe".into();
            }
            19 => {
                if rng.chance(50) {
                    g.probes[p][0].1 = s(rng.pick(&["Exec", "run", "", "buildd"]));
                } else {
                    g.probes[p].remove(0);
                }
                return format!("{probe}.kind");
            }
            20 if kind == "command" => {
                if rng.chance(50) {
                    g.probes[p].retain(|(k, _)| k != "run");
                } else {
                    set(&mut g.probes[p], "run", s(rng.pick(&["", "  ", "\n\t"])));
                }
                return format!("{probe}.run");
            }
            21 if kind != "command" => {
                set(&mut g.probes[p], "run", s("true"));
                return format!("{probe}.run");
            }
            22 => {
                set(&mut g.probes[p], "expect", s(rng.pick(&["passes", "Fail", "", "xfail"])));
                return format!("{probe}.expect");
            }
            23 => {
                let bad = if rng.chance(50) { String::new() } else { format!("{}\0", rng.hostile(true)) };
                set(&mut g.probes[p], "expect-output", Val::Str(bad));
                return format!("{probe}.expect-output");
            }
            24 if kind == "command" => {
                set(&mut g.probes[p], "run", Val::Str(format!("true\0{}", rng.hostile(true))));
                return format!("{probe}.run");
            }
            25 => {
                let bad = rng.pick(&[Val::Int(0), Val::Int(-5), Val::Int(86_401), s("10"), Val::Float(1.5)]).clone();
                set(&mut g.probes[p], "timeout", bad);
                return format!("{probe}.timeout");
            }
            26 => {
                set(&mut g.probes[p], "systems", strs(&[other_system]));
                return format!("{probe}.systems[0]");
            }
            27 if !matches!(kind.as_str(), "exec" | "build") => {
                set(&mut g.probes[p], "payload", s("aarch64-linux"));
                return format!("{probe}.payload");
            }
            28 if matches!(kind.as_str(), "exec" | "build" | "command") => {
                set(&mut g.probes[p], "qemu-cpu", s(rng.pick(&["arm 926", "", "cortex-a15;reboot", "a\nb", "ä"])));
                return format!("{probe}.qemu-cpu");
            }
            29 => {
                let key = *rng.pick(&["expected", "cmd", "output", "system"]);
                g.probes[p].push((key.into(), s("x")));
                return format!("{probe}.{key}");
            }
            30 if kind == "command" => {
                // Longer than one argument of `/bin/sh -c` can be.
                let piece: String = rng.hostile(false).chars().take(8).collect();
                let run = format!("true #{}", piece.repeat(2 + spec::MAX_RUN_BYTES / piece.len()));
                let end = run.ceil_char_boundary(spec::MAX_RUN_BYTES + 1 + rng.below(64));
                set(&mut g.probes[p], "run", Val::Str(run[..end].to_owned()));
                return format!("{probe}.run");
            }
            31 => {
                let mut paths: Vec<Val> = match g.nix.iter().find(|(k, _)| k == "extra-sandbox-paths") {
                    Some((_, Val::List(l))) => l.clone(),
                    _ => Vec::new(),
                };
                let at = rng.below(paths.len() + 1);
                let long = format!("/{}", "p".repeat(4095 + rng.below(3)));
                paths.insert(at, Val::Str(if rng.chance(50) { long } else { format!("/inside={long}") }));
                set(&mut g.nix, "extra-sandbox-paths", Val::List(paths));
                return format!("nix.extra-sandbox-paths[{at}]");
            }
            _ => {}
        }
    }
}

impl Generated {
    /// What is wrong with how the spec was judged, if anything.
    fn judge(&self, result: &Result<Lab, spec::SpecErrors>) -> Option<String> {
        match (result, &self.mistake) {
            (Ok(_), Some(key)) => Some(format!("validates despite its mistake at `{key}`")),
            (Err(e), None) => Some(format!("a valid spec is rejected: {e}")),
            // One mistake is told once, at its key, not again by keys that depend on it.
            (Err(e), Some(key)) if e.iter().any(|e| e.key.as_deref() != Some(key.as_str())) => {
                Some(format!("its mistake is at `{key}`, but the errors say: {e}"))
            }
            (Err(_), Some(_)) => None,
            (Ok(lab), None) => self.text_problem(lab),
        }
    }

    /// Whether the lab carries the spec's text exactly.
    fn text_problem(&self, lab: &Lab) -> Option<String> {
        let get = |entries: &Entries, key: &str| entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let text = |v: Option<Val>| match v {
            Some(Val::Str(s)) => Some(s),
            _ => None,
        };
        if Some(&lab.description) != text(get(&self.top, "description")).as_ref() {
            return Some(format!("description {:?} is not the spec's", lab.description));
        }
        let paths: Vec<String> = match get(&self.nix, "extra-sandbox-paths") {
            Some(Val::List(l)) => l.into_iter().filter_map(|v| text(Some(v))).collect(),
            _ => Vec::new(),
        };
        if lab.nix.extra_sandbox_paths != paths {
            return Some(format!("sandbox paths {:?} are not the spec's {paths:?}", lab.nix.extra_sandbox_paths));
        }
        for (p, entries) in lab.probes.iter().zip(&self.probes) {
            let expected_output = match get(entries, "expect-output") {
                Some(Val::Table(t)) => Some(spec::ExpectOutput {
                    default: text(get(&t, "default")),
                    stacks: t
                        .into_iter()
                        .filter(|(k, _)| k != "default")
                        .filter_map(|(k, v)| Some((k, text(Some(v))?)))
                        .collect(),
                }),
                other => text(other).map(|d| spec::ExpectOutput { default: Some(d), stacks: Vec::new() }),
            };
            // A table's stacks in any order: TOML tables have none.
            let sorted = |o: Option<spec::ExpectOutput>| {
                o.map(|mut o| {
                    o.stacks.sort();
                    o
                })
            };
            if p.run != text(get(entries, "run")) || sorted(p.expect_output.clone()) != sorted(expected_output) {
                return Some(format!("a probe's run or expect-output is not the spec's: {p:?}"));
            }
        }
        None
    }

    /// The spec as TOML, in a randomly chosen form: tables, dotted keys or
    /// inline tables; every string in one of TOML's four string syntaxes.
    fn toml(&self, rng: &mut Rng) -> String {
        let mut head = String::new();
        let mut tables = String::new();
        let comment = |rng: &mut Rng| -> String {
            if rng.chance(15) {
                format!("# {}\n", rng.hostile(false).replace(|c: char| c.is_control() && c != '\t', " "))
            } else {
                String::new()
            }
        };
        for (k, v) in &self.top {
            head.push_str(&comment(rng));
            head.push_str(&format!("{} = {}\n", key(rng, k), value(rng, v)));
        }
        for (section, entries) in [("binfmt", &self.binfmt), ("nix", &self.nix), ("machine", &self.machine)] {
            if entries.is_empty() && rng.chance(70) {
                continue;
            }
            match rng.below(3) {
                0 => {
                    tables.push_str(&format!("\n[{section}]\n"));
                    for (k, v) in entries {
                        tables.push_str(&comment(rng));
                        tables.push_str(&format!("{} = {}\n", key(rng, k), value(rng, v)));
                    }
                }
                1 if !entries.is_empty() => {
                    for (k, v) in entries {
                        head.push_str(&format!("{section}.{} = {}\n", key(rng, k), value(rng, v)));
                    }
                }
                _ => head.push_str(&format!("{section} = {}\n", inline_table(rng, entries))),
            }
        }
        if let Some(v) = &self.probe_value {
            head.push_str(&format!("probe = {}\n", value(rng, v)));
        } else if !self.probes.is_empty() {
            if rng.chance(25) {
                let tables: Vec<String> = self.probes.iter().map(|p| inline_table(rng, p)).collect();
                head.push_str(&format!("probe = [\n  {},\n]\n", tables.join(",\n  ")));
            } else {
                for p in &self.probes {
                    tables.push_str("\n[[probe]]\n");
                    for (k, v) in p {
                        tables.push_str(&comment(rng));
                        tables.push_str(&format!("{} = {}\n", key(rng, k), value(rng, v)));
                    }
                }
            }
        }
        format!("{head}{tables}")
    }
}

fn key(rng: &mut Rng, k: &str) -> String {
    // A dot in a bare key makes a table: `nix-2.8` is quoted.
    if k.contains('.') || rng.chance(10) {
        format!("\"{k}\"")
    } else {
        k.to_owned()
    }
}

fn inline_table(rng: &mut Rng, entries: &Entries) -> String {
    let parts: Vec<String> = entries.iter().map(|(k, v)| format!("{} = {}", key(rng, k), value(rng, v))).collect();
    format!("{{ {} }}", parts.join(", "))
}

fn value(rng: &mut Rng, v: &Val) -> String {
    match v {
        Val::Str(text) => toml_string(rng, text),
        Val::Int(n) => n.to_string(),
        Val::Bool(b) => b.to_string(),
        Val::Float(f) => format!("{f:?}"),
        Val::Table(entries) => inline_table(rng, entries),
        Val::List(items) => {
            let parts: Vec<String> = items.iter().map(|i| value(rng, i)).collect();
            match if parts.is_empty() { 0 } else { rng.below(3) } {
                0 => format!("[{}]", parts.join(",")),
                1 => format!("[\n  {},\n]", parts.join(",\n  ")),
                _ => format!("[ {} ]", parts.join(", ")),
            }
        }
    }
}

/// `text` as a TOML string, in a syntax that can hold it, chosen at random.
fn toml_string(rng: &mut Rng, text: &str) -> String {
    let control = |c: char| (c.is_ascii_control() && c != '\t') || c == '\u{7f}';
    match rng.below(4) {
        0 if !text.contains('\'') && !text.chars().any(control) => format!("'{text}'"),
        1 if !text.contains("'''") && !text.ends_with('\'') && !text.chars().any(|c| control(c) && c != '\n') => {
            // The newline right after the opening quotes is dropped.
            format!("'''\n{text}'''")
        }
        2 => {
            // Quotes stay raw, but never two in a row, nor one before the closing three.
            let mut out = String::from("\"\"\"\n");
            let mut chars = text.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '"' if out.ends_with('"') || chars.peek().is_none() => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push('\n'),
                    c if control(c) => out.push_str(&format!("\\u{:04X}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push_str("\"\"\"");
            out
        }
        _ => {
            let mut out = String::from("\"");
            for c in text.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' if rng.chance(50) => out.push_str("\\t"),
                    c if control(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c if !c.is_ascii() && rng.chance(10) => out.push_str(&format!("\\U{:08X}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
    }
}
