//! Command-line flags for every `cargo xtask` command; doc comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// crosslab: reproducible labs for cross-architecture emulation with Nix.
///
/// A lab is a short TOML spec (labs/*.toml) describing who registers the
/// emulator with binfmt_misc, how Nix is configured, and what must work.
/// crosslab renders it to a flake whose `nix flake check` boots NixOS VMs,
/// and runs it for real on this machine.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
pub struct Xtask {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with labs: list, show, check, render, run, matrix, doctor, fix, capture, shell, schema, cache.
    #[command(subcommand)]
    Lab(LabCommand),
    /// Install what the test suite needs (Debian packages, as root) and run
    /// `cargo test`: the README's test command, and what CI runs.
    Test(Test),
    /// Time `lab run` against the bare commands it wraps (namespace, register,
    /// fresh store, sandboxed build) and print both.
    Bench(Bench),
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// List the labs in labs/: name, host kind, systems, description.
    List(List),
    /// Show a lab's plan: registrations, Nix settings, and every probe per
    /// system with the shell command it runs and what it expects.
    Show(Show),
    /// Validate lab specs (all labs in labs/ by default). Each invalid spec is
    /// told with its file, the key and the fix; exits 2 if any is invalid.
    Check(Check),
    /// Render labs to the flake: flake.nix, checks/<lab>.nix and
    /// checks/<lab>.py. All labs into the repository root by default.
    Render(Render),
    /// Run labs for real on this machine, isolated from it, with a verdict per
    /// probe. Exit status: 0 all as expected, 1 some not, 2 could not run.
    Run(Run),
    /// Run labs × systems (on the backend `lab run` would pick) and print the "Works?" table
    /// people paste into READMEs and bug reports: lab, host kind, target
    /// system, ✅/❌, and a note saying why in a few words. All labs in labs/
    /// by default. Exit status as for `lab run`.
    Matrix(Matrix),
    /// Diagnose this machine without running a lab, and change nothing:
    /// binfmt_misc and every registered emulator, Nix's real configuration
    /// and whether the sandbox sees each emulator, binfmt_misc namespaces,
    /// whether KVM really boots a guest, qemu versions. Each problem comes with
    /// its fix. Exit status: 0 no problem found, 1 some.
    Doctor(Doctor),
    /// Find the smallest change of a lab's spec that makes every probe pass,
    /// and prove it: the changed lab runs (isolated, as `lab run`), one layer
    /// at a time, until every probe passes or no diagnosis proposes another
    /// change. Probes expecting failure are turned into probes expecting to
    /// pass (the aim is a working machine). Writes the fixed spec and prints
    /// what to change on a real machine of the lab's kind. Exit status: 0 a
    /// verified fix, 1 none found, 2 could not run.
    Fix(Fix),
    /// Read this machine without changing it (binfmt_misc entries, Nix's
    /// configuration, whether it is NixOS) and write a lab spec that models
    /// it, with probes for every foreign system registered or in
    /// extra-platforms. `lab run` on it reproduces, isolated, what this
    /// machine does; `lab fix` on it finds what to change.
    Capture(Capture),
    /// A shell inside a lab, after its registrations and Nix set-up, with
    /// the probes' environment (CROSSLAB_SYSTEM, CROSSLAB_PAYLOADS,
    /// NIX_CONF_DIR…), on the backend `lab run` picks: interactive in the
    /// lab's namespaces on the host backend; on the vm backend one command
    /// at a time (a piped script is one). Leaving it tears the lab down as
    /// `lab run` does.
    Shell(LabShell),
    /// Print the JSON Schema of the lab spec contract. Editors (taplo, Even
    /// Better TOML) read it from a `#:schema ../schema/lab.schema.json` first
    /// line, as the shipped labs have; `--write` updates that file.
    Schema(Schema),
    /// List what crosslab keeps in its cache ($CROSSLAB_CACHE, else
    /// $XDG_CACHE_HOME/crosslab, else ~/.cache/crosslab): kind, suite/arch,
    /// size and last use of each payload, Debian root, toolchain and VM
    /// image; with `--clean`, remove entries by age or all. Nothing outside
    /// the cache is touched: links in it are removed, never followed.
    Cache(Cache),
}

#[derive(Debug, Args)]
pub struct Cache {
    /// Remove entries instead of listing them: those unused for
    /// `--older-than AGE`, or every one with `--all`. Each is rebuilt on
    /// first use.
    #[arg(long)]
    pub clean: bool,
    /// With `--clean`: remove entries whose last use is at least AGE ago:
    /// a number and `m`, `h`, `d` or `w` (`30d`).
    #[arg(long, value_name = "AGE", requires = "clean", conflicts_with = "all")]
    pub older_than: Option<String>,
    /// With `--clean`: remove every entry.
    #[arg(long, requires = "clean")]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct Fix {
    /// A lab name from labs/, or a path to a .toml spec.
    pub lab: String,
    /// Write the fixed spec to FILE (default: `<lab>-fixed.toml` here).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Which Nix and qemu the lab runs with, as for `lab run`: `host`,
    /// `bookworm`, `trixie` or `forky`.
    #[arg(long, default_value = "host", value_name = "STACK")]
    pub stack: String,
    /// Where the lab runs, as for `lab run`: `host` (namespaces on this
    /// machine) or `vm` (a Debian VM); by default `host` where the kernel has
    /// binfmt_misc namespaces (Linux 6.7 on), else `vm`.
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
}

#[derive(Debug, Args)]
pub struct Capture {
    /// Write the spec to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LabShell {
    /// A lab name from labs/, or a path to a .toml spec.
    pub lab: String,
    /// The system CROSSLAB_SYSTEM names (default: the lab's first).
    #[arg(long, value_name = "SYSTEM")]
    pub system: Option<String>,
    /// Which Nix and qemu the lab runs with, as for `lab run`: `host`,
    /// `bookworm`, `trixie` or `forky`.
    #[arg(long, default_value = "host", value_name = "STACK")]
    pub stack: String,
    /// Where the lab runs, as for `lab run`: `host` (namespaces on this
    /// machine) or `vm` (a Debian VM); by default `host` where the kernel has
    /// binfmt_misc namespaces (Linux 6.7 on), else `vm`.
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
}

#[derive(Debug, Args)]
pub struct List {}

#[derive(Debug, Args)]
pub struct Show {
    /// A lab name from labs/, or a path to a .toml spec.
    pub lab: String,
}

#[derive(Debug, Args)]
pub struct Check {
    /// Lab names or paths to .toml specs; all labs in labs/ when none.
    pub labs: Vec<String>,
}

#[derive(Debug, Args)]
pub struct Render {
    /// Lab names or paths to .toml specs; all labs in labs/ when none.
    pub labs: Vec<String>,
    /// Write into this directory instead of the repository root.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write nothing; exit 1 listing every file whose committed text differs
    /// from a fresh render, with the command that regenerates it.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct Run {
    /// Lab names or paths to .toml specs; `non-nixos-aarch64` when none.
    pub labs: Vec<String>,
    /// Where the probes run. Without it: `host` where this kernel mounts a
    /// private binfmt_misc per lab (Linux ≥ 6.7, user namespaces allowed),
    /// else `vm`; the choice is said in one line. `--backend host` on an
    /// older kernel needs `--allow-global`.
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
    /// Which Nix and qemu the lab runs with: `host` (what this machine has
    /// installed), `bookworm` (Debian 12: Nix 2.8, qemu 7.2), `trixie`
    /// (Debian 13: Nix 2.26, qemu 10.0) or `forky` (Debian 14, testing:
    /// Nix 2.34, qemu 11.1). A Debian stack is a root built once
    /// with mmdebstrap and cached; the vm backend boots a guest of that suite.
    #[arg(long, default_value = "host", value_name = "STACK")]
    pub stack: String,
    /// Print one JSON object per lab instead of the terminal report.
    #[arg(long)]
    pub json: bool,
    /// On kernels without binfmt_misc namespaces (before 6.7), register in the
    /// host's global binfmt_misc and restore the previous entries afterwards.
    /// Root only.
    #[arg(long)]
    pub allow_global: bool,
    /// Also write a JUnit XML report to FILE: one testcase per probe and
    /// system; an expected failure reproduced is a pass with the property
    /// `expected-failure`.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// With `--backend nixos`: build the lab's `driverInteractive` and start
    /// the test driver's prompt (`start_all()`, `run_tests()`). One lab.
    #[arg(long)]
    pub interactive: bool,
    /// With `--backend nixos`: passed to Nix as `--override-input INPUT REF`,
    /// e.g. `--override-input nixpkgs path:/src/nixpkgs` for a local nixpkgs.
    #[arg(long, num_args = 2, value_names = ["INPUT", "REF"])]
    pub override_input: Vec<String>,
    /// Show every probe's output, not only the surprises'.
    #[arg(long, short)]
    pub verbose: bool,
    /// Run only the probes for these of the lab's systems (comma-separated
    /// Nix doubles, or the option repeated). The lab is set up as written.
    #[arg(long, value_delimiter = ',', value_name = "SYSTEM")]
    pub system: Vec<String>,
    /// Run only these probes: a kind (`build`), the index of a `[[probe]]`
    /// (`3`), or both (`build[3]`); comma-separated, or the option repeated.
    #[arg(long, value_delimiter = ',', value_name = "KIND-OR-INDEX")]
    pub probe: Vec<String>,
}

impl Run {
    /// The probes `--system` and `--probe` choose.
    pub fn selection(&self) -> crate::selection::Selection {
        crate::selection::Selection { systems: self.system.clone(), probes: self.probe.clone() }
    }
}

#[derive(Debug, Args)]
pub struct Matrix {
    /// Lab names or paths to .toml specs; all labs in labs/ when none.
    pub labs: Vec<String>,
    /// Run every lab for exactly these systems (comma-separated Nix doubles)
    /// instead of its own. A system the lab does not list is substituted for
    /// the lab's: its probes run for it, and the lab's extra-platforms and any
    /// `/usr/bin/qemu-<arch>-static` in its extra-sandbox-paths follow the
    /// substitution. Probes limited to other systems are left out. A `command`
    /// probe sees the system in $CROSSLAB_SYSTEM; one that hard-codes an
    /// architecture tests that architecture whatever the row says. A lab the
    /// substitution makes invalid (e.g. a NixOS lab for a system
    /// boot.binfmt.emulatedSystems rejects) gets a ❌ row saying why.
    #[arg(long, value_delimiter = ',', value_name = "SYSTEMS")]
    pub systems: Vec<String>,
    /// Output format: a GitHub Markdown table, or a JSON array of rows.
    #[arg(long, value_enum, default_value_t = MatrixFormat::Markdown)]
    pub format: MatrixFormat,
    /// Also write a JUnit XML report of every probe to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Run only these probes of each lab: a kind (`build`), the index of a
    /// `[[probe]]` (`3`), or both (`build[3]`); comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "KIND-OR-INDEX")]
    pub probe: Vec<String>,
    /// On kernels without binfmt_misc namespaces (before 6.7), register in the
    /// host's global binfmt_misc and restore it afterwards. Root only.
    #[arg(long)]
    pub allow_global: bool,
    /// Where the labs run, as for `lab run`: `host` where this kernel mounts
    /// a private binfmt_misc per lab, else `vm`, when not given.
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
    /// Run on each of these stacks (comma-separated, as `lab run --stack`):
    /// the table gets a "Works?" column per stack.
    #[arg(long, value_delimiter = ',', default_value = "host", value_name = "STACKS")]
    pub stacks: Vec<String>,
    /// Add a Markdown column with each row's compile probe times: the target's
    /// compiler under emulation, the host's cross compiler, the ratio. (They
    /// vary from run to run; JSON rows always have them.)
    #[arg(long)]
    pub compile_times: bool,
    /// Run only shard K of N (`--shard 2/3`): the matrix's lab runs (a lab,
    /// or a lab for one of `--systems`) dealt round-robin into N shards, so N
    /// CI jobs with K = 1..N run the whole matrix between them, each once.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<crate::selection::Shard>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MatrixFormat {
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct Schema {
    /// Write schema/lab.schema.json instead of printing.
    #[arg(long)]
    pub write: bool,
    /// Write nothing; exit 1 if schema/lab.schema.json is not what `--write` writes.
    #[arg(long, conflicts_with = "write")]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct Doctor {
    /// Seconds the KVM test boot and its TCG control may take when neither
    /// prints the kernel's banner (a working KVM does in well under a
    /// second, and the first banner ends the test): above a TCG boot, which
    /// took 7.6 s here, or the control cannot tell KVM's fault from a slow
    /// kernel.
    #[arg(long, default_value_t = 20)]
    pub kvm_timeout: u64,
    /// Test-boot KVM again instead of reusing the verdict of an earlier
    /// doctor in this boot (kept in crosslab's cache, keyed by the boot id).
    #[arg(long)]
    pub retest_kvm: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// This machine, isolated in kernel namespaces.
    Host,
    /// A Debian VM under qemu (KVM if a test boot proves it works, else TCG),
    /// booted from an image built once with mmdebstrap and cached.
    Vm,
    /// The lab's rendered NixOS test, built and run by Nix (`nix build -L`
    /// of checks.x86_64-linux.<lab>), verdicts read from the driver's log.
    /// Built by this machine's Nix with its own store or daemon; without
    /// either, or without the locked nixpkgs (in the store or reachable; or
    /// --override-input), it stops before touching any store (exit 2).
    Nixos,
}

#[derive(Debug, Args)]
pub struct Bench {
    /// How many times to run each side.
    #[arg(long, default_value_t = 10)]
    pub runs: u32,
    /// The stack both sides run with, as `lab run --stack`.
    #[arg(long, default_value = "host", value_name = "STACK")]
    pub stack: String,
}

#[derive(Debug, Args)]
pub struct Test {
    /// Only the tests that need no root, no network and no VM (a few
    /// minutes; for while editing). Without it, every test runs.
    #[arg(long)]
    pub quick: bool,
    /// Arguments passed on to `cargo test` (after `--`).
    #[arg(last = true)]
    pub cargo_test_args: Vec<String>,
}
