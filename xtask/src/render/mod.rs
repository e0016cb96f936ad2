//! Rendering labs to the flake: `flake.nix`, and per lab a NixOS test
//! (`checks/<lab>.nix`) with its script (`checks/<lab>.py`).
//!
//! The templates are in `templates/` at the repository root; every value put
//! into them is already quoted here by `quote.rs`, so spec text is carried as
//! data, never as code. What a probe runs and expects comes from `plan.rs`
//! alone: the script prints [`Probe::command`] and [`Probe::expect`] as
//! Python literals and runs them the way the host backend does.

pub mod closure;
pub mod generated;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use askama::Template;
use sha2::{Digest, Sha256};

use crate::flags;
use crate::plan::{Plan, Probe, BINFMT_DIR};
use crate::quote;
use crate::spec::{Expect, HostKind, Interpreter, Lab, Language};
use crate::systems::{Emulator, NixSystem};
use generated::{GeneratedFiles, Staleness};

/// The hand-written files the rendered checks use: the NixOS node module
/// and the probe runner every testScript starts with.
pub const MODULES: &[&str] = &["modules/crosslab-node.nix", "modules/crosslab_probe.py"];

/// The lock file pinning every nixpkgs input (hand-maintained, never
/// rendered): `lab render` leaves it alone in the repository and copies it
/// beside a flake rendered elsewhere, so that flake tests the same revision.
pub const FLAKE_LOCK: &str = "flake.lock";

/// The command that regenerates every rendered file.
pub const RENDER_COMMAND: &str = "cargo xtask lab render";

pub use closure::{renderable, VM_HOST_ARCH};

/// Time a test VM gets to boot and set up, on top of its probes' timeouts.
const BOOT_ALLOWANCE_SECS: u64 = 600;

/// How many times longer a probe may take when the driver's qemu has no KVM
/// and emulates the x86_64 guest with TCG: the guest's own work (and the
/// qemu-user inside it) is then translated twice. Measured here (README,
/// "The vm backend"): a C compile probe takes ~1 s on the host backend and
/// 30–45 s in the vm backend's TCG guest, up to ~45 times longer. Probe
/// timeouts (120 s by default) sit far above their KVM times, so 5 times
/// (600 s) covers that C probe and the Rust one (4.9 s on the host, ~220 s
/// at 45 times) with room. The script scales each probe's timeout by it
/// only when /dev/kvm is unusable (modules/crosslab_probe.py); the test's
/// global timeout always allows for it, so a TCG run is not cut short.
pub const TCG_SLOWDOWN: u64 = 5;

/// The VM's memory (MiB) for a lab whose probes compile: the target's gcc
/// or rustc runs under qemu-user inside the guest (qemu-user adds its own
/// translation buffers to the compiler's memory), beside the guest's
/// tmpfs-backed writable store; rustc with LLVM needs several times gcc's.
/// Sized with room, not measured in a NixOS VM here (none can be built on
/// this machine). Others keep qemu-vm.nix's 1024.
pub const MEMORY_C_MIB: u32 = 2048;
pub const MEMORY_RUST_MIB: u32 = 4096;

/// A nixpkgs a lab is tested with: a flake input.
#[derive(Debug, PartialEq, Eq)]
pub struct NixpkgsPin {
    /// The flake input's name (a Nix identifier).
    pub input: &'static str,
    pub url: &'static str,
}

/// The nixpkgs every lab is tested with today, and the one the flake's tools
/// (formatter, freshness check) come from.
pub const NIXPKGS: NixpkgsPin = NixpkgsPin { input: "nixpkgs", url: "github:NixOS/nixpkgs/nixos-25.05" };

/// The nixpkgs `lab` is tested with. One pin for all labs for now; the flake
/// has one input per distinct pin, so a lab can later pin another.
pub fn nixpkgs_pin(_lab: &Lab) -> &'static NixpkgsPin {
    &NIXPKGS
}

/// One file `lab render` produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Relative to the output directory.
    pub path: PathBuf,
    pub text: String,
}

impl flags::Render {
    pub fn run(self, root: &Path) -> anyhow::Result<ExitCode> {
        let out = self.out.clone().unwrap_or_else(|| root.to_path_buf());
        let into_repo = same_dir(&out, root);
        let mut named = crate::load_labs(root, &self.labs)?;
        for lab in named.iter().filter(|l| !renderable(l)) {
            eprintln!(
                "crosslab: lab `{}` models an {} host, which no rendered (x86_64 NixOS) check can be; not rendered: `lab run` runs it in a VM of that architecture",
                lab.name,
                lab.host_system.map_or("?", |h| h.double)
            );
        }
        named.retain(|l| renderable(l));
        // The repository's flake lists every lab in labs/, even when only some
        // are named; another directory gets a flake of the named labs alone.
        let mut labs = named;
        let named_count = labs.len();
        if into_repo && !self.labs.is_empty() {
            for lab in crate::load_labs(root, &[])? {
                if renderable(&lab) && !labs.iter().any(|l| l.name == lab.name) {
                    labs.push(lab);
                }
            }
        }
        let render = Render { root, labs: &labs, with_specs: into_repo, with_modules: !into_repo };
        let files = render.files()?;
        let written_labs: Vec<&str> = labs[..named_count].iter().map(|l| l.name.as_str()).collect();

        let mut output = GeneratedFiles::new(&out, self.check);
        for file in &files {
            let lab_file = file.path.starts_with("checks");
            let stem = file.path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            if !lab_file || written_labs.contains(&stem) {
                output.update(&file.path, &file.text)?;
            }
        }
        if self.labs.is_empty() {
            for orphan in orphaned_checks(&out, &files)? {
                output.remove(&orphan)?;
            }
        }

        let regenerate = regenerate_command(&self);
        if self.check {
            if output.stale.is_empty() {
                println!("render is fresh: {} files", files.len());
                return Ok(ExitCode::SUCCESS);
            }
            for stale in &output.stale {
                eprintln!("stale: {stale}");
            }
            eprintln!("run `{regenerate}` to regenerate");
            return Ok(ExitCode::from(1));
        }
        for changed in &output.stale {
            let verb = if changed.why == Staleness::Orphaned { "removed" } else { "wrote" };
            println!("{verb} {}", out.join(&changed.path).display());
        }
        if output.stale.is_empty() {
            println!("render is fresh: {} files unchanged", files.len());
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// What one `lab render` produces.
pub struct Render<'a> {
    pub root: &'a Path,
    /// Every lab the flake lists.
    pub labs: &'a [Lab],
    /// Record the specs' hashes in the flake (when it sits beside labs/).
    pub with_specs: bool,
    /// Copy the hand-written modules/ too (when rendering outside the
    /// repository, so the output is a flake on its own).
    pub with_modules: bool,
}

impl Render<'_> {
    /// Every file, paths relative to the output directory: checks first, then
    /// modules, then `flake.nix` (which records the others' hashes).
    pub fn files(&self) -> anyhow::Result<Vec<RenderedFile>> {
        let mut names: Vec<&str> = self.labs.iter().map(|l| l.name.as_str()).collect();
        names.sort();
        if let Some(dup) = names.windows(2).find(|w| w[0] == w[1]) {
            bail!("two labs are named `{}`: a lab's name is its file stem and must be unique", dup[0]);
        }
        let mut files = Vec::new();
        for lab in self.labs {
            let source = spec_source(lab, self.root);
            let plan = Plan::new(lab, VM_HOST_ARCH);
            files.push(RenderedFile {
                path: PathBuf::from(format!("checks/{}.nix", lab.name)),
                text: ends_with_newline(
                    CheckNix::new(&plan, &source).render().context("failed to render checks/<lab>.nix")?,
                ),
            });
            files.push(RenderedFile {
                path: PathBuf::from(format!("checks/{}.py", lab.name)),
                text: ends_with_newline(
                    CheckPy::new(&plan, &source).render().context("failed to render checks/<lab>.py")?,
                ),
            });
        }
        if self.with_modules {
            for module in MODULES {
                let path = PathBuf::from(module);
                let full = self.root.join(&path);
                let text =
                    std::fs::read_to_string(&full).with_context(|| format!("failed to read `{}`", full.display()))?;
                files.push(RenderedFile { path, text });
            }
        }
        if self.with_modules {
            let full = self.root.join(FLAKE_LOCK);
            if full.exists() {
                let text =
                    std::fs::read_to_string(&full).with_context(|| format!("failed to read `{}`", full.display()))?;
                files.push(RenderedFile { path: PathBuf::from(FLAKE_LOCK), text });
            }
        }
        let mut hashes: BTreeMap<String, String> =
            files.iter().map(|f| (f.path.display().to_string(), sha256_hex(f.text.as_bytes()))).collect();
        if self.with_specs {
            for lab in self.labs {
                let rel = format!("labs/{}.toml", lab.name);
                if spec_source(lab, self.root) == rel {
                    let bytes =
                        std::fs::read(&lab.path).with_context(|| format!("failed to read `{}`", lab.path.display()))?;
                    hashes.insert(rel, sha256_hex(&bytes));
                }
            }
        }
        files.push(RenderedFile {
            path: PathBuf::from("flake.nix"),
            text: ends_with_newline(FlakeNix::new(self.labs, &hashes).render().context("failed to render flake.nix")?),
        });
        Ok(files)
    }
}

/// `labs/<name>.toml` for a spec in the repository's labs/, else `<name>.toml`:
/// the spec as the headers name it (a lab name is always safe in a comment;
/// an arbitrary path is not).
pub fn spec_source(lab: &Lab, root: &Path) -> String {
    let in_labs = lab
        .path
        .parent()
        .and_then(|p| p.canonicalize().ok())
        .is_some_and(|p| Some(p) == crate::labs_dir(root).canonicalize().ok());
    if in_labs {
        format!("labs/{}.toml", lab.name)
    } else {
        format!("{}.toml", lab.name)
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Files in `out/checks` that carry the generated header but that no lab produces.
fn orphaned_checks(out: &Path, files: &[RenderedFile]) -> anyhow::Result<Vec<PathBuf>> {
    let dir = out.join("checks");
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(Vec::new()) };
    let mut orphans = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("failed to read directory `{}`", dir.display()))?;
        let rel = Path::new("checks").join(entry.file_name());
        if files.iter().any(|f| f.path == rel) {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if text.lines().next().is_some_and(|l| l.starts_with("# generated from ") && l.contains(RENDER_COMMAND)) {
            orphans.push(rel);
        }
    }
    orphans.sort();
    Ok(orphans)
}

fn regenerate_command(flags: &flags::Render) -> String {
    let mut command = RENDER_COMMAND.to_owned();
    for lab in &flags.labs {
        command.push(' ');
        command.push_str(&quote::sh(lab));
    }
    if let Some(out) = &flags.out {
        command.push_str(" --out ");
        command.push_str(&quote::sh(&out.display().to_string()));
    }
    command
}

/// askama drops a template's last newline; a text file ends with exactly one.
fn ends_with_newline(text: String) -> String {
    format!("{}\n", text.trim_end())
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

struct Payload {
    system: String,
    busybox: String,
}

#[derive(Template)]
#[template(path = "check.nix", escape = "none")]
struct CheckNix {
    source: String,
    name: String,
    name_nix: String,
    host: &'static str,
    timeout: u64,
    description: String,
    /// The flake output the check is under (`checks` or `crossChecks`).
    output: &'static str,
    /// Comment lines: what the node downloads, fetches and builds.
    origins: Vec<String>,
    payloads: Vec<Payload>,
    /// The compile probes' compilers (`busybox` holds the expression).
    toolchains: Vec<Payload>,
    /// Cross compilers on PATH as `<gcc_triple>-gcc` (`system` holds the triple).
    cross_compilers: Vec<Payload>,
    /// Comment lines saying why the compile probes have no cross compiler to time.
    no_cross: Vec<String>,
    /// `virtualisation.memorySize`, when not qemu-vm.nix's default.
    memory_mib: Option<u32>,
    tcg_slowdown: u64,
    fhs_emulators: Vec<String>,
    fhs_dynamic_emulators: Vec<String>,
    emulated_systems: Vec<String>,
    prefer_static_emulators: bool,
    sandbox: bool,
    extra_sandbox_paths: Vec<String>,
    extra_platforms: Vec<String>,
    /// `nix.settings.system-features`, when the lab sets them (as Nix strings).
    system_features: Option<Vec<String>>,
}

impl CheckNix {
    fn new(plan: &Plan, source: &str) -> CheckNix {
        let lab = plan.lab;
        let native = |s: &NixSystem| s.is_native_on(plan.host_arch, plan.host_cpu);
        let payload_systems = closure::payload_systems(plan);

        // A non-NixOS host is modelled as Debian with qemu-user-static
        // installed, whether or not anything registers it.
        let mut fhs_emulators: Vec<String> = Vec::new();
        let mut fhs_dynamic_emulators: Vec<String> = Vec::new();
        if lab.host == HostKind::NonNixos || lab.binfmt.interpreter == Interpreter::Fhs {
            for s in payload_systems.iter().filter(|s| !native(s)) {
                let arch = quote::nix(s.qemu);
                if !fhs_emulators.contains(&arch) {
                    fhs_emulators.push(arch.clone());
                }
                // Debian's qemu-user beside qemu-user-static, for an FHS lab
                // that registers the dynamically linked one.
                if lab.binfmt.emulator == Emulator::Dynamic
                    && lab.binfmt.interpreter == Interpreter::Fhs
                    && !fhs_dynamic_emulators.contains(&arch)
                {
                    fhs_dynamic_emulators.push(arch);
                }
            }
        }
        let parts = closure::parts(plan);
        let toolchains = crate::plan::compile_toolchains(&[plan]);
        // The compile probe times the host's cross compiler when one is on
        // PATH. Only a check that builds from source anyway gets nixpkgs'
        // (cross-built for it); under `checks` it would be the one big build.
        let cross_compilers: Vec<(&NixSystem, closure::Part)> = if closure::builds_from_source(&parts) {
            let mut by_triple: Vec<(&NixSystem, closure::Part)> = Vec::new();
            // One `<triple>-gcc` on PATH, however many systems share the
            // triple (armv5tel and armv6l are both arm-linux-gnueabi).
            for (s, _) in toolchains.iter().filter(|(_, l)| *l == Language::C) {
                if by_triple.iter().all(|(c, _)| c.gcc_triple != s.gcc_triple) {
                    by_triple.extend(closure::cross_compiler(s).map(|p| (*s, p)));
                }
            }
            by_triple
        } else {
            Vec::new()
        };
        let untimed: Vec<&str> = toolchains
            .iter()
            .filter(|(s, l)| *l == Language::C && closure::cross_compiler(s).is_some())
            .filter(|(s, _)| !cross_compilers.iter().any(|(c, _)| c.gcc_triple == s.gcc_triple))
            .map(|(s, _)| s.double)
            .collect();
        let no_cross = if untimed.is_empty() {
            Vec::new()
        } else {
            vec![
                format!(
                    "No cross compiler for {}: the compile probes report the emulated time alone.",
                    untimed.join(", ")
                ),
                "nixpkgs' cross gcc (pkgsCross.<x>.stdenv.cc) is no job of pkgs/top-level/release.nix,".to_owned(),
                "so under `checks` it would be built from source; a check under crossChecks has it".to_owned(),
                "on PATH as <triple>-gcc and times both, as `lab run` does with Debian's.".to_owned(),
            ]
        };
        let nixos_binfmt = lab.binfmt.interpreter == Interpreter::Nixos;
        // Every system but the host's own, which the spec rejects (binfmt.nix
        // asserts it); one the host runs natively is the module's to treat.
        let own = crate::systems::own_system(plan.host_arch);
        let emulated: Vec<&str> = if nixos_binfmt {
            lab.systems.iter().filter(|s| Some(**s) != own).map(|s| s.double).collect()
        } else {
            Vec::new()
        };

        // NixOS's binfmt module adds /run/binfmt, the emulated systems and
        // i686-linux itself (when it emulates any); the lab's own settings
        // come on top.
        let (sandbox_paths, platforms): (Vec<&String>, Vec<&String>) = if nixos_binfmt {
            (
                lab.nix.extra_sandbox_paths.iter().collect(),
                lab.nix
                    .extra_platforms
                    .iter()
                    .filter(|p| !emulated.contains(&p.as_str()) && (emulated.is_empty() || p.as_str() != "i686-linux"))
                    .collect(),
            )
        } else {
            (plan.nix_conf.extra_sandbox_paths.iter().collect(), plan.nix_conf.extra_platforms.iter().collect())
        };

        CheckNix {
            source: source.to_owned(),
            name: lab.name.clone(),
            name_nix: quote::nix(&lab.name),
            host: lab.host.as_str(),
            timeout: BOOT_ALLOWANCE_SECS + TCG_SLOWDOWN * plan.probes.iter().map(|p| p.timeout.as_secs()).sum::<u64>(),
            description: quote::nix(&lab.description),
            output: closure::output_of(plan),
            origins: closure::summary(&parts)
                .into_iter()
                .map(|(origin, what)| {
                    let label = match origin {
                        closure::Origin::Cache => "From the NixOS binary cache",
                        closure::Origin::Fetch => "Fetched by hash",
                        closure::Origin::Source => "Built from source",
                    };
                    let what = if what.is_empty() { "nothing".to_owned() } else { what.join(", ") };
                    comment_safe(&format!("{label}: {what}."))
                })
                .collect(),
            payloads: payload_systems
                .iter()
                .map(|s| Payload { system: quote::nix(s.double), busybox: closure::payload(s).expr })
                .collect(),
            toolchains: toolchains
                .iter()
                .map(|(s, l)| Payload {
                    system: quote::nix(&l.toolchain_link(s)),
                    busybox: closure::toolchain(s, *l).expr,
                })
                .collect(),
            cross_compilers: cross_compilers
                .iter()
                .map(|(s, part)| Payload {
                    system: quote::nix(&format!("{}-gcc", s.gcc_triple)),
                    busybox: part.expr.clone(),
                })
                .collect(),
            no_cross,
            tcg_slowdown: TCG_SLOWDOWN,
            memory_mib: if toolchains.iter().any(|(_, l)| *l == Language::Rust) {
                Some(MEMORY_RUST_MIB)
            } else if toolchains.is_empty() {
                None
            } else {
                Some(MEMORY_C_MIB)
            },
            fhs_emulators,
            fhs_dynamic_emulators,
            emulated_systems: emulated.iter().map(|s| quote::nix(s)).collect(),
            prefer_static_emulators: nixos_binfmt && lab.binfmt.emulator == Emulator::Static,
            sandbox: plan.nix_conf.sandbox,
            extra_sandbox_paths: sandbox_paths.iter().map(|p| quote::nix(p)).collect(),
            extra_platforms: platforms.iter().map(|p| quote::nix(p)).collect(),
            system_features: plan.nix_conf.system_features.as_ref().map(|f| f.iter().map(|x| quote::nix(x)).collect()),
        }
    }
}

/// What a table `expect-output` knows the rendered check by: the `nixos`
/// backend, and the Nix of nixos-25.05.
pub const RENDERED_KEYS: [&str; 2] = ["nixos", "nix-2.28"];

struct RegistrationStep {
    subtest: String,
    command: String,
}

struct ProbeStep {
    subtest: String,
    /// The probe's id as a Python literal: what its result line names.
    id: String,
    command: String,
    timeout: u64,
    passes: &'static str,
    contains: Vec<String>,
    line: String,
}

#[derive(Template)]
#[template(path = "check.py", escape = "none")]
struct CheckPy {
    source: String,
    name: String,
    mount_binfmt_misc: String,
    registrations: Vec<RegistrationStep>,
    /// [`crate::plan::MachineState::command`], after the registrations as every backend runs it.
    machine_state: Option<String>,
    probes: Vec<ProbeStep>,
}

impl CheckPy {
    fn new(plan: &Plan, source: &str) -> CheckPy {
        // NixOS registers its own entries at boot; an FHS host's are written by hand.
        let registrations = if plan.lab.binfmt.interpreter == Interpreter::Fhs {
            plan.registrations
                .iter()
                .map(|reg| RegistrationStep {
                    subtest: quote::python(&format!(
                        "register `{}` for {} (interpreter {}, flags `{}`)",
                        reg.name, reg.system.double, reg.interpreter, reg.flags
                    )),
                    command: quote::python(&reg.command()),
                })
                .collect()
        } else {
            Vec::new()
        };
        CheckPy {
            source: source.to_owned(),
            name: plan.lab.name.clone(),
            mount_binfmt_misc: quote::python(&format!(
                "mountpoint -q {BINFMT_DIR} || mount -t binfmt_misc binfmt_misc {BINFMT_DIR}"
            )),
            registrations,
            machine_state: plan.machine.command().map(|c| python_text(&c, "    ")),
            // The rendered check runs nixos-25.05's Nix 2.28.
            probes: plan.probes.iter().map(|p| ProbeStep::new(&p.on(&RENDERED_KEYS.map(str::to_owned)))).collect(),
        }
    }
}

impl ProbeStep {
    fn new(probe: &Probe) -> ProbeStep {
        ProbeStep {
            subtest: quote::python(&format!("{}: {}", probe.id(), probe.title)),
            id: quote::python(&probe.id()),
            command: python_text(&probe.command, "        "),
            timeout: probe.timeout.as_secs(),
            passes: if probe.expect.status == Expect::Pass { "True" } else { "False" },
            contains: probe.expect.contains.iter().map(|c| quote::python(c)).collect(),
            line: probe.expect.line.as_deref().map_or_else(|| "None".to_owned(), quote::python),
        }
    }
}

/// `text` for a `#` comment line of a rendered file: one line, no control
/// characters (spec text such as a lab's systems never reaches here, but a
/// comment must stay one).
fn comment_safe(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// `s` as a Python expression: a string literal, or for several lines a
/// `"\n".join([...])` of one literal per line, which reads like the script it is.
fn python_text(s: &str, indent: &str) -> String {
    if !s.contains('\n') {
        return quote::python(s);
    }
    let mut expr = String::from("\"\\n\".join(\n");
    expr.push_str(&format!("{indent}    [\n"));
    for line in s.split('\n') {
        expr.push_str(&format!("{indent}        {},\n", quote::python(line)));
    }
    expr.push_str(&format!("{indent}    ]\n{indent})"));
    expr
}

struct PinInput {
    input: &'static str,
    url: String,
}

struct FlakeLab {
    attr: String,
    name: String,
    input: String,
    /// Under `crossChecks`, not `checks`: its node builds from source.
    cross: bool,
}

struct HashedFile {
    path: String,
    sha256: String,
}

#[derive(Template)]
#[template(path = "flake.nix", escape = "none")]
struct FlakeNix {
    pins: Vec<PinInput>,
    tooling_input: String,
    labs: Vec<FlakeLab>,
    rendered: Vec<HashedFile>,
}

impl FlakeNix {
    fn new(labs: &[Lab], hashes: &BTreeMap<String, String>) -> FlakeNix {
        let mut sorted: Vec<&Lab> = labs.iter().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        let mut pins: Vec<&NixpkgsPin> = vec![&NIXPKGS];
        for lab in &sorted {
            let pin = nixpkgs_pin(lab);
            if !pins.contains(&pin) {
                pins.push(pin);
            }
        }
        FlakeNix {
            pins: pins.iter().map(|p| PinInput { input: p.input, url: quote::nix(p.url) }).collect(),
            tooling_input: quote::nix(NIXPKGS.input),
            labs: sorted
                .iter()
                .filter(|lab| closure::not_a_nixos_test(&Plan::new(lab, VM_HOST_ARCH)).is_none())
                .map(|lab| FlakeLab {
                    attr: quote::nix(&lab.name),
                    name: lab.name.clone(),
                    input: quote::nix(nixpkgs_pin(lab).input),
                    cross: closure::output_of(&Plan::new(lab, VM_HOST_ARCH)) == "crossChecks",
                })
                .collect(),
            rendered: hashes
                .iter()
                .map(|(path, sha256)| HashedFile { path: quote::nix(path), sha256: quote::nix(sha256) })
                .collect(),
        }
    }
}
