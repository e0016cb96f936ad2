//! Lab specs: reading a `labs/*.toml` file (or any path) into a validated [`Lab`].
//!
//! The contract is `shared/DESIGN.md`'s "Lab spec" section. Every error names
//! the file, the dotted key and its line and column, and says how to fix it;
//! callers exit with status 2 on [`SpecErrors`].
//!
//! Validation reports every error of a spec at once: each check of
//! [`Validator`] records its own errors with [`Validator::fail`] and returns
//! `None`, and [`parse`] runs every check before it gives up. A check that
//! depends on another key's value (flags on the interpreter, probe systems on
//! the lab's) takes it as an `Option` and skips what it cannot judge, so one
//! mistake is told once. A new key is one more check called from
//! [`Validator::lab`] (or `binfmt`, `nix`, `probe`) and one more name in its
//! `*_KEYS` list; its errors get their position from the dotted key.

use std::cell::RefCell;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::{Spanned, Table, Value};

use crate::registrations::{self, Tool};
use crate::systems::{self, Emulator, HostCpu, HostSystem, NixSystem, NixosRelease, HOST_SYSTEMS};

/// A lab spec that has been read and validated.
#[derive(Debug)]
pub struct Lab {
    /// `[a-z0-9][a-z0-9-]*`: the file stem in a `labs/` directory (where names
    /// become flake attributes), else derived from it by [`derived_name`].
    pub name: String,
    /// Where the spec was read from.
    pub path: PathBuf,
    pub description: String,
    pub host: HostKind,
    /// `host-system`: the machine the lab models, when it is not the one
    /// crosslab runs on (an aarch64 host modelled in an arm64 VM).
    pub host_system: Option<&'static HostSystem>,
    /// `host-cpu`: that machine's CPU (needs `host-system`).
    pub host_cpu: Option<&'static HostCpu>,
    pub systems: Vec<&'static NixSystem>,
    pub binfmt: BinfmtSpec,
    pub nix: NixSpec,
    /// `[machine]`: the state of the host the report describes.
    pub machine: MachineSpec,
    pub probes: Vec<ProbeSpec>,
}

impl Lab {
    /// The host system the lab names and its CPU (`host-cpu`, else that
    /// system's default); `None` when it models the machine it runs on.
    pub fn host_machine(&self) -> Option<(&'static HostSystem, &'static HostCpu)> {
        self.host_system.map(|h| (h, self.host_cpu.unwrap_or_else(|| h.default_cpu())))
    }

    /// The machine the lab models, in a few words: its kind (`non-nixos`,
    /// `nixos`), and for a host of another system that system and CPU, e.g.
    /// `nixos on aarch64-linux (a64fx)`.
    pub fn machine_words(&self) -> String {
        match self.host_machine() {
            Some((h, cpu)) => format!("{} on {} ({})", self.host.as_str(), h.double, cpu.name),
            None => self.host.as_str().to_owned(),
        }
    }
}

/// `[machine]`: host state a report describes that is neither a registration
/// nor a Nix setting. Every backend applies it after setting the lab up
/// (`plan::MachineState`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineSpec {
    /// `binfmt-misc = "not-mounted"`: no binfmt_misc at `/proc/sys/fs/binfmt_misc`.
    pub binfmt_misc_unmounted: bool,
    /// `proc = "partly-hidden"`: a file is mounted over one in `/proc`, so
    /// `/proc` is not fully visible and a new PID namespace cannot mount its own.
    pub proc_partly_hidden: bool,
    /// `missing`: paths under `/run` that do not exist though the
    /// configuration (e.g. the sandbox paths) names them.
    pub missing: Vec<String>,
}

/// The kind of machine a lab models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// Debian, Ubuntu, any Linux with Nix installed beside the distribution.
    NonNixos,
    /// NixOS, configured through `boot.binfmt` and `nix.settings`.
    Nixos,
}

impl HostKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HostKind::NonNixos => "non-nixos",
            HostKind::Nixos => "nixos",
        }
    }
}

/// Who registers the emulator with binfmt_misc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpreter {
    /// `/usr/bin/qemu-<arch>-static`, registered by hand, Debian or Docker style.
    Fhs,
    /// `boot.binfmt.emulatedSystems`: `/run/binfmt/<system>`.
    Nixos,
    /// Nothing registered.
    None,
}

impl Interpreter {
    pub fn as_str(self) -> &'static str {
        match self {
            Interpreter::Fhs => "fhs",
            Interpreter::Nixos => "nixos",
            Interpreter::None => "none",
        }
    }
}

#[derive(Debug)]
pub struct BinfmtSpec {
    pub interpreter: Interpreter,
    /// Kernel flags in canonical `POCF` order, as the spec gave them.
    pub flags: String,
    /// Default: static for `fhs`, dynamic for `nixos` (NixOS without preferStaticEmulators).
    pub emulator: Emulator,
    /// `binfmt.tool`: the registering tool whose entries are registered byte
    /// for byte (name, offset, magic, mask, interpreter; its flags unless
    /// `flags` overrides them). It implies `interpreter` and `emulator`.
    pub tool: Option<&'static Tool>,
    /// `binfmt.nixos-release`: the NixOS release whose module a NixOS host
    /// runs (default 25.05; meaningful only with `host = "nixos"`).
    pub nixos_release: &'static NixosRelease,
}

#[derive(Debug)]
pub struct NixSpec {
    pub sandbox: bool,
    pub extra_sandbox_paths: Vec<String>,
    pub extra_platforms: Vec<String>,
    /// `system-features`: Nix's default when `None` (host-dependent).
    pub system_features: Option<Vec<String>>,
    /// Whether Nix builds through `nix-daemon` with build users.
    pub mode: NixMode,
    /// `trusted-users` of the daemon (Nix's default: root alone).
    pub trusted_users: Vec<String>,
    /// The daemon is the stack's Nix built for this system, run under
    /// qemu-user (Nix in an emulated container, nix#5258).
    pub emulated: Option<&'static NixSystem>,
}

/// How the machine runs Nix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NixMode {
    /// Every Nix command opens the store itself, as root, without build users.
    SingleUser,
    /// A root `nix-daemon` builds as the `nixbld` users; the probes are an
    /// unprivileged client of it (`NIX_REMOTE=daemon`).
    Daemon,
}

impl NixMode {
    pub const NAMES: [&'static str; 2] = ["daemon", "single-user"];

    pub fn as_str(self) -> &'static str {
        match self {
            NixMode::SingleUser => "single-user",
            NixMode::Daemon => "daemon",
        }
    }

    /// What real installs of each host kind run: NixOS always builds through
    /// the daemon (nixos/modules/services/system/nix-daemon.nix); on Debian,
    /// `nix-bin` recommends `nix-setup-systemd`, which apt installs with it
    /// and whose postinst makes the `nixbld` group with `nixbld1`…`nixbld10`
    /// and enables `nix-daemon.socket`, and the official installer's default
    /// on Linux with systemd is its multi-user (daemon) mode.
    pub fn default_for(_host: HostKind) -> NixMode {
        NixMode::Daemon
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Binfmt,
    NixConfig,
    Exec,
    Build,
    /// The target's own C toolchain compiles and runs a program inside a
    /// sandboxed build for the target (see `plan::COMPILE_EXPR`).
    Compile,
    Command,
    /// Appends settings to the lab's nix.conf as an administrator would, and
    /// restarts the daemon only when the spec says so.
    NixConfEdit,
}

/// What a probe kind is called, what it checks, and which of the optional
/// probe keys it takes: one row per kind, read by the spec's validation, the
/// JSON schema, `--probe` selection, the fuzzer's generator and the README's
/// list. What a kind runs is in `plan.rs`, how its failures are explained in
/// `diagnose.rs`.
#[derive(Debug)]
pub struct ProbeKindRow {
    pub kind: ProbeKind,
    /// The spec's `kind = "…"`.
    pub name: &'static str,
    /// What the probe checks, in one line.
    pub checks: &'static str,
    /// Takes `payload` (another system's binary to run).
    pub payload: bool,
    /// Takes `qemu-cpu` (it emulates something).
    pub qemu_cpu: bool,
    /// Takes `language` (it compiles).
    pub language: bool,
    /// Needs `run` (the shell command is the spec's).
    pub run: bool,
    /// Takes `required-system-features` (its derivation's `requiredSystemFeatures`).
    pub features: bool,
    /// Takes `nix-options` (`--option` settings on its Nix command line).
    pub nix_options: bool,
    /// Needs `set` and takes `restart-daemon` (it edits nix.conf).
    pub edit: bool,
}

/// Every probe kind, in the order the README lists them.
pub const PROBE_KINDS: [ProbeKindRow; 7] = [
    ProbeKindRow {
        kind: ProbeKind::Binfmt,
        name: "binfmt",
        checks: "the binfmt_misc entry exists and is enabled, with the configured interpreter and flags",
        payload: false,
        qemu_cpu: false,
        language: false,
        run: false,
        features: false,
        nix_options: false,
        edit: false,
    },
    ProbeKindRow {
        kind: ProbeKind::NixConfig,
        name: "nix-config",
        checks: "Nix reports the configured sandbox, extra-platforms and sandbox paths",
        payload: false,
        qemu_cpu: false,
        language: false,
        run: false,
        features: false,
        nix_options: false,
        edit: false,
    },
    ProbeKindRow {
        kind: ProbeKind::Exec,
        name: "exec",
        checks: "a static foreign binary runs, and `uname -m` prints the target's machine",
        payload: true,
        qemu_cpu: true,
        language: false,
        run: false,
        features: false,
        nix_options: false,
        edit: false,
    },
    ProbeKindRow {
        kind: ProbeKind::Build,
        name: "build",
        checks: "a sandboxed nix-build of a derivation for the target system",
        payload: true,
        qemu_cpu: true,
        language: false,
        run: false,
        features: true,
        nix_options: true,
        edit: false,
    },
    ProbeKindRow {
        kind: ProbeKind::Compile,
        name: "compile",
        checks: "the target's own toolchain compiles and runs a program in a sandboxed build for the target",
        payload: false,
        qemu_cpu: true,
        language: true,
        run: false,
        features: false,
        nix_options: true,
        edit: false,
    },
    ProbeKindRow {
        kind: ProbeKind::Command,
        name: "command",
        checks: "a shell command of the spec's (`run`), the target in $CROSSLAB_SYSTEM",
        payload: false,
        qemu_cpu: true,
        language: false,
        run: true,
        features: false,
        nix_options: false,
        edit: false,
    },
    ProbeKindRow {
        kind: ProbeKind::NixConfEdit,
        name: "nix-conf-edit",
        checks: "appends `set` to the lab's nix.conf as root; the daemon sees it only after `restart-daemon = true`",
        payload: false,
        qemu_cpu: false,
        language: false,
        run: false,
        features: false,
        nix_options: false,
        edit: true,
    },
];

impl ProbeKind {
    pub const ALL: [ProbeKind; 7] = {
        let mut all = [ProbeKind::Binfmt; 7];
        let mut i = 0;
        while i < PROBE_KINDS.len() {
            all[i] = PROBE_KINDS[i].kind;
            i += 1;
        }
        all
    };

    /// This kind's row of [`PROBE_KINDS`].
    pub fn row(self) -> &'static ProbeKindRow {
        PROBE_KINDS.iter().find(|r| r.kind == self).expect("every kind has a row")
    }

    pub fn as_str(self) -> &'static str {
        self.row().name
    }

    /// The kind called `name` in a spec.
    pub fn named(name: &str) -> Option<ProbeKind> {
        PROBE_KINDS.iter().find(|r| r.name == name).map(|r| r.kind)
    }

    /// The names of the kinds whose row says `yes`, e.g. those taking `payload`.
    pub fn names_where(yes: impl Fn(&ProbeKindRow) -> bool) -> Vec<&'static str> {
        PROBE_KINDS.iter().filter(|r| yes(r)).map(|r| r.name).collect()
    }
}

/// Whether a probe is expected to succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Pass,
    Fail,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Pass => "pass",
            Expect::Fail => "fail",
        }
    }
}

#[derive(Debug)]
pub struct ProbeSpec {
    pub kind: ProbeKind,
    pub expect: Expect,
    /// The whole expected text (it replaces the kind's own line), per stack.
    pub expect_output: Option<ExpectOutput>,
    /// The shell command of a `command` probe.
    pub run: Option<String>,
    /// Seconds before the probe is stopped.
    pub timeout_secs: u64,
    /// Only these of the lab's systems (default: all).
    pub systems: Option<Vec<&'static NixSystem>>,
    /// Run this system's payload instead of the probe's own (exec, build).
    pub payload: Option<&'static NixSystem>,
    /// Pin the emulated CPU instead of the systems table's model.
    pub qemu_cpu: Option<String>,
    /// The language a `compile` probe compiles.
    pub language: Language,
    /// `--option name value` pairs on a build's Nix command line: a daemon
    /// ignores the restricted ones unless the client is trusted.
    pub nix_options: Vec<(String, String)>,
    /// Settings a `nix-conf-edit` probe appends to nix.conf.
    pub set: Vec<(String, String)>,
    /// Whether a `nix-conf-edit` probe restarts the daemon afterwards.
    pub restart_daemon: bool,
    /// `required-system-features` of a `build` probe's derivation.
    pub required_features: Vec<String>,
}

/// `expect-output`: one text, or a table of texts by stack
/// (`{ default = "…", bookworm = "…" }`), since one Nix words an error
/// differently from another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectOutput {
    /// For every stack not named (the only text when the key is a string).
    pub default: Option<String>,
    /// `(stack, text)` in spec order.
    pub stacks: Vec<(String, String)>,
}

impl ExpectOutput {
    /// The text expected on `stack`, if any.
    pub fn on(&self, stack: &str) -> Option<&str> {
        self.stacks.iter().find(|(s, _)| s == stack).map(|(_, t)| t.as_str()).or(self.default.as_deref())
    }

    /// Every text, the default first.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.default.as_deref().into_iter().chain(self.stacks.iter().map(|(_, t)| t.as_str()))
    }
}

/// The stacks a table `expect-output` may name besides `default` and a Nix
/// version (`nix-2.8`): the rows of `provision::stack` (a test keeps them in
/// step) and `nixos`, the rendered NixOS check.
pub const STACK_NAMES: &[&str] = &["host", "bookworm", "trixie", "forky", "nixos"];

/// Whether `key` names a Nix version, `nix-<major>.<minor>`, in a table `expect-output`.
pub fn is_nix_version_key(key: &str) -> bool {
    key.strip_prefix("nix-").and_then(|v| v.split_once('.')).is_some_and(|(a, b)| {
        !a.is_empty() && !b.is_empty() && a.chars().all(|c| c.is_ascii_digit()) && b.chars().all(|c| c.is_ascii_digit())
    })
}

/// Text that only a failing run of crosslab's own probe commands prints: an
/// `expect = "pass"` probe of those kinds expecting one of these can never
/// hold (a `command` probe's shell may print anything and exit 0). Each is
/// an error message of Nix, the kernel (through the shell) or qemu.
pub const FAILURE_TEXTS: &[&str] = &[
    "error:",
    "Exec format error",
    "No such file or directory",
    "Operation not permitted",
    "is required to build",
    "does not support the kernel namespaces",
    "Illegal instruction",
];

/// What a `compile` probe compiles (`language = "c"`, the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// gcc, as and ld.
    C,
    /// rustc, linking with the C toolchain's cc.
    Rust,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::C, Language::Rust];

    pub fn as_str(self) -> &'static str {
        match self {
            Language::C => "c",
            Language::Rust => "rust",
        }
    }

    /// How the language is written in prose: `C`, `Rust`.
    pub fn name(self) -> &'static str {
        match self {
            Language::C => "C",
            Language::Rust => "Rust",
        }
    }

    /// The entry of `$CROSSLAB_TOOLCHAINS` with this language's toolchain for
    /// `system`: `<system>` for C, `<system>-rust` for Rust.
    pub fn toolchain_link(self, system: &NixSystem) -> String {
        match self {
            Language::C => system.double.to_owned(),
            Language::Rust => format!("{}-rust", system.double),
        }
    }
}

/// Default probe timeout: an emulated build of a busybox derivation takes well
/// under a second; real compilation under emulation can take minutes.
pub const DEFAULT_TIMEOUT_SECS: u64 = 120;

/// The longest probe timeout: a day.
pub const MAX_TIMEOUT_SECS: u64 = 86_400;

/// The longest `run` a `command` probe may have. The backends hand a probe's
/// command to `/bin/sh -c` as one argument, which Linux limits to 128 KiB
/// (MAX_ARG_STRLEN); crosslab's own lines before it need the rest.
pub const MAX_RUN_BYTES: usize = 127 * 1024;

/// The longest path Linux opens (PATH_MAX, without its NUL).
const MAX_PATH_BYTES: usize = 4095;

/// The longest qemu CPU model name crosslab accepts; qemu's are under 40.
pub const MAX_QEMU_CPU_CHARS: usize = 64;

/// Where in a spec an error is: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// One thing wrong with a spec, with where and how to fix it.
#[derive(Debug)]
pub struct SpecError {
    pub file: PathBuf,
    /// Dotted key, e.g. `probe[2].expect`; `None` for whole-file problems.
    pub key: Option<String>,
    /// Where the key (or the syntax error) is; `None` when the file could not be read.
    pub position: Option<Position>,
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `file:line:column`, the form editors and terminals jump to.
        write!(f, "invalid lab spec `{}", self.file.display())?;
        if let Some(Position { line, column }) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, "`")?;
        if let Some(key) = &self.key {
            write!(f, ": `{key}`")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

/// Every error of one spec, in file order; never empty.
#[derive(Debug)]
pub struct SpecErrors {
    pub errors: Vec<SpecError>,
}

impl SpecErrors {
    fn new(mut errors: Vec<SpecError>) -> SpecErrors {
        assert!(!errors.is_empty(), "SpecErrors holds at least one error");
        // Stable: errors at one place keep the order the checks found them in.
        errors.sort_by_key(|e| e.position);
        SpecErrors { errors }
    }

    fn one(error: SpecError) -> SpecErrors {
        SpecErrors { errors: vec![error] }
    }
}

impl std::ops::Deref for SpecErrors {
    type Target = [SpecError];
    fn deref(&self) -> &[SpecError] {
        &self.errors
    }
}

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}

// The keys each table takes; `schema.rs` describes each one, and a test keeps them in step.
pub const TOP_KEYS: &[&str] =
    &["description", "host", "host-system", "host-cpu", "systems", "binfmt", "nix", "machine", "probe"];
pub const MACHINE_KEYS: &[&str] = &["binfmt-misc", "proc", "missing"];
pub const BINFMT_KEYS: &[&str] = &["tool", "interpreter", "flags", "emulator", "nixos-release"];
pub const NIX_KEYS: &[&str] =
    &["sandbox", "extra-sandbox-paths", "extra-platforms", "system-features", "mode", "trusted-users", "emulated"];
pub const PROBE_KEYS: &[&str] = &[
    "kind",
    "expect",
    "expect-output",
    "run",
    "timeout",
    "systems",
    "payload",
    "qemu-cpu",
    "language",
    "required-system-features",
    "nix-options",
    "set",
    "restart-daemon",
];

/// Resolves a lab argument: a name in `labs/` or a path to any `.toml` file.
pub fn resolve(labs_dir: &Path, arg: &str) -> PathBuf {
    if arg.contains('/') || arg.ends_with(".toml") {
        PathBuf::from(arg)
    } else {
        labs_dir.join(format!("{arg}.toml"))
    }
}

/// All lab files in `labs_dir`, sorted by name.
pub fn all_lab_files(labs_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(labs_dir)
        .map_err(|e| anyhow::anyhow!("failed to read directory `{}`: {e}", labs_dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_stem().cmp(&b.file_stem()));
    Ok(files)
}

/// Reads and validates the spec at `path`.
///
/// In a directory named `labs` the file stem is the lab's name and must be
/// one ([`is_lab_name`]): `lab render` makes it a flake attribute. Anywhere
/// else the file may have any name and the lab's is [`derived_name`].
pub fn load(path: &Path) -> Result<Lab, SpecErrors> {
    let whole_file = |message: String, help: Option<String>| {
        SpecErrors::one(SpecError { file: path.to_path_buf(), key: None, position: None, message, help })
    };
    let bytes = std::fs::read(path).map_err(|e| {
        let help = (e.kind() == std::io::ErrorKind::NotFound)
            .then(|| "give a lab name from `cargo xtask lab list`, or a path to a .toml file".to_owned());
        whole_file(format!("cannot read the file: {e}"), help)
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        whole_file(
            format!("the file is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
            Some("a lab spec is a TOML text file; save it as UTF-8".to_owned()),
        )
    })?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let in_labs_dir = path.parent().and_then(Path::file_name).is_some_and(|d| d == "labs");
    let name = if in_labs_dir {
        if !is_lab_name(&stem) {
            return Err(whole_file(
                format!(
                    "`{}` is not a valid lab name: in labs/ the file stem is the lab's name and its flake attribute, \
                     and must match [a-z0-9][a-z0-9-]*",
                    shown(&stem)
                ),
                Some(format!("rename the file to `{}.toml`", derived_name(&stem))),
            ));
        }
        stem
    } else {
        derived_name(&stem)
    };
    parse(&name, path, &text)
}

/// Whether `name` is a valid lab name (`[a-z0-9][a-z0-9-]*`).
pub fn is_lab_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A lab name made from any file stem: lower case, every run of other
/// characters one `-`, none at the ends; `lab` when nothing is left.
/// `my-box-fixF` → `my-box-fixf`, `Ubuntu 24.04 (arm)` → `ubuntu-24-04-arm`.
pub fn derived_name(stem: &str) -> String {
    let mut name = String::new();
    for c in stem.chars().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    while name.ends_with('-') {
        name.pop();
    }
    if name.is_empty() {
        "lab".to_owned()
    } else {
        name
    }
}

/// Validates spec text; `path` is only used in error messages and [`Lab::path`].
pub fn parse(name: &str, path: &Path, text: &str) -> Result<Lab, SpecErrors> {
    let (spans, syntax_errors) = DeTable::parse_recoverable(text);
    let syntax_error = |span: Option<Range<usize>>, message: &str| SpecError {
        file: path.to_path_buf(),
        key: None,
        position: Some(position(text, span.map_or(0, |s| s.start))),
        message: format!("TOML syntax error: {message}"),
        help: Some("fix the TOML syntax; see the spec format in README.md".to_owned()),
    };
    if !syntax_errors.is_empty() {
        let mut errors: Vec<SpecError> = syntax_errors.iter().map(|e| syntax_error(e.span(), e.message())).collect();
        // Recovery can report one place twice.
        errors.sort_by_key(|e| e.position);
        errors.dedup_by(|a, b| a.position == b.position && a.message == b.message);
        return Err(SpecErrors::new(errors));
    }
    let table: Table =
        text.parse().map_err(|e: toml::de::Error| SpecErrors::one(syntax_error(e.span(), e.message())))?;
    let root = Spanned::new(spans.span(), DeValue::Table(spans.into_inner()));
    let v = Validator { file: path, text, root, errors: RefCell::default() };
    let lab = v.lab(name, &table);
    let errors = v.errors.into_inner();
    match lab {
        Some(lab) if errors.is_empty() => Ok(lab),
        _ => Err(SpecErrors::new(errors)),
    }
}

/// Spec text as an error message quotes it: escaped, and cut short, so that a
/// 1 MB value does not make a 1 MB message.
fn shown(text: &str) -> String {
    const MAX_CHARS: usize = 60;
    let head: String = text.chars().take(MAX_CHARS).collect();
    if head.len() == text.len() {
        head.escape_debug().to_string()
    } else {
        format!("{}… ({} bytes)", head.escape_debug(), text.len())
    }
}

fn position(text: &str, offset: usize) -> Position {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position { line: before.matches('\n').count() + 1, column: before[line_start..].chars().count() + 1 }
}

/// One dotted key's steps: `probe[2].systems[0]` → `probe`, 2, `systems`, 0.
enum Step<'k> {
    Key(&'k str),
    Index(usize),
}

fn steps(dotted: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in dotted.split('.') {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        out.push(Step::Key(key));
        while let Some((index, after)) = rest.split_once(']') {
            if let Ok(i) = index.parse() {
                out.push(Step::Index(i));
            }
            rest = after.trim_start_matches('[');
        }
    }
    out
}

/// Checks a spec's values and collects every error; see the module doc.
struct Validator<'a> {
    file: &'a Path,
    text: &'a str,
    /// The same document with positions, to place errors.
    root: Spanned<DeValue<'a>>,
    errors: RefCell<Vec<SpecError>>,
}

impl Validator<'_> {
    /// Records an error at `key` (at the file's start when `None`) and returns `None`.
    fn fail<T>(&self, key: Option<&str>, message: String, help: Option<String>) -> Option<T> {
        let span = key.map_or(0..0, |k| self.span_of(k));
        self.fail_at(key, span, message, help)
    }

    fn fail_at<T>(&self, key: Option<&str>, span: Range<usize>, message: String, help: Option<String>) -> Option<T> {
        self.errors.borrow_mut().push(SpecError {
            file: self.file.to_path_buf(),
            key: key.map(str::to_owned),
            position: Some(position(self.text, span.start)),
            message,
            help,
        });
        None
    }

    /// The value at `dotted`, as far as the document has it: the deepest
    /// node reached, and whether every step of the key was found.
    fn walk(&self, dotted: &str) -> (&Spanned<DeValue<'_>>, bool) {
        let mut at = &self.root;
        for step in steps(dotted) {
            let next = match (step, at.get_ref()) {
                (Step::Key(k), DeValue::Table(t)) => t.get(k),
                (Step::Index(i), DeValue::Array(a)) => a.get(i),
                _ => None,
            };
            match next {
                Some(n) => at = n,
                None => return (at, false),
            }
        }
        (at, true)
    }

    /// Where `dotted`'s value is, or, when the key is absent, the table that
    /// lacks it.
    fn span_of(&self, dotted: &str) -> Range<usize> {
        self.walk(dotted).0.span()
    }

    /// Where `key` itself (not its value) is, in the table at `table_key`.
    fn key_span(&self, table_key: &str, key: &str) -> Range<usize> {
        let (table, found) = if table_key.is_empty() { (&self.root, true) } else { self.walk(table_key) };
        match (found, table.get_ref()) {
            (true, DeValue::Table(t)) => t.get_key_value(key).map_or(table.span(), |(k, _)| k.span()),
            _ => table.span(),
        }
    }

    /// The whole lab: every check runs before any missing part gives up.
    fn lab(&self, name: &str, table: &Table) -> Option<Lab> {
        self.known_keys(table, "", TOP_KEYS);
        let description = self.description(table);
        let host = self.host(table);
        let host_machine = self.host_machine(table);
        let systems = self.systems(table);
        // The machine the lab models: its own `host-system`, else this one.
        let host_arch = host_machine.and_then(|m| m.0).map_or(std::env::consts::ARCH, |h| h.arch);
        let host_cpu = host_machine.and_then(|m| m.0.map(|h| m.1.unwrap_or_else(|| h.default_cpu())));
        let binfmt = self.binfmt(table, host, (host_arch, host_cpu), systems.as_deref());
        let nix = self.nix(table, host, systems.as_deref());
        let machine = self.machine(table, binfmt.as_ref().map(|b| b.interpreter));
        let probes = self.probes(table, systems.as_deref());
        if let (Some(nix), Some(probes), Some(systems)) = (&nix, &probes, &systems) {
            self.impossible_expectations(nix, probes, systems);
        }
        Some(Lab {
            name: name.to_owned(),
            path: self.file.to_path_buf(),
            description: description?,
            host: host?,
            host_system: host_machine?.0,
            host_cpu: host_machine?.1,
            systems: systems?,
            binfmt: binfmt?,
            nix: nix?,
            machine: machine?,
            probes: probes?,
        })
    }

    fn description(&self, table: &Table) -> Option<String> {
        let description = self.required_str(table, "description")?;
        if description.trim().is_empty() {
            return self.fail(
                Some("description"),
                "is empty".into(),
                Some("say in one line what the lab models and which report it reproduces".into()),
            );
        }
        Some(description)
    }

    fn host(&self, table: &Table) -> Option<HostKind> {
        match self.required_str(table, "host")?.as_str() {
            "non-nixos" => Some(HostKind::NonNixos),
            "nixos" => Some(HostKind::Nixos),
            other => self.bad_value("host", other, &["non-nixos", "nixos"]),
        }
    }

    /// `host-system` and `host-cpu`, each checked against the systems table.
    fn host_machine(&self, table: &Table) -> Option<(Option<&'static HostSystem>, Option<&'static HostCpu>)> {
        let system = self.opt_str(table, "host-system");
        let cpu = self.opt_str(table, "host-cpu");
        let (system, cpu) = (system?, cpu?);
        let host = match system.as_deref() {
            None => None,
            Some(name) => match HostSystem::find(name) {
                Some(h) => Some(h),
                None => {
                    let names: Vec<&str> = HOST_SYSTEMS.iter().map(|h| h.double).collect();
                    return self.bad_value("host-system", name, &names);
                }
            },
        };
        let Some(cpu) = cpu else { return Some((host, None)) };
        let Some(host) = host else {
            return self.fail(
                Some("host-cpu"),
                format!("`{}` needs `host-system`: a CPU belongs to a host architecture", shown(&cpu)),
                Some("add e.g. `host-system = \"aarch64-linux\"`".into()),
            );
        };
        match host.cpu(&cpu) {
            Some(c) => Some((Some(host), Some(c))),
            None => {
                let names: Vec<&str> = host.cpus.iter().map(|c| c.name).collect();
                self.bad_value("host-cpu", &cpu, &names)
            }
        }
    }

    /// The lab's systems, `None` if any entry is wrong (each one is told).
    fn systems(&self, table: &Table) -> Option<Vec<&'static NixSystem>> {
        let names = match self.str_array(table, "systems", "systems")? {
            Some(names) if !names.is_empty() => names,
            _ => {
                return self.fail(
                    Some("systems"),
                    "no systems: a lab emulates at least one system".into(),
                    Some("add e.g. `systems = [\"aarch64-linux\"]`".into()),
                )
            }
        };
        let mut systems = Vec::new();
        let mut all_valid = true;
        for (i, name) in names.iter().enumerate() {
            let key = format!("systems[{i}]");
            match self.system(&key, name) {
                Some(s) if systems.contains(&s) => {
                    all_valid = false;
                    self.fail::<()>(
                        Some(&key),
                        format!("`{}` is listed twice", s.double),
                        Some("list each system once".into()),
                    );
                }
                Some(s) => systems.push(s),
                None => all_valid = false,
            }
        }
        all_valid.then_some(systems)
    }

    fn binfmt(
        &self,
        table: &Table,
        host: Option<HostKind>,
        (host_arch, host_cpu): (&'static str, Option<&'static HostCpu>),
        systems: Option<&[&'static NixSystem]>,
    ) -> Option<BinfmtSpec> {
        let native = |s: &NixSystem| s.is_native_on(host_arch, host_cpu);
        let t = self.sub_table(table, "binfmt", BINFMT_KEYS)?;
        let tool = self.tool(&t, host);
        let known_tool = tool.flatten();
        let interpreter = self.interpreter(&t, host, known_tool);
        let emulator = self.emulator(&t, interpreter, known_tool);
        let flags = self.binfmt_flags(&t, interpreter, emulator, known_tool);
        let nixos_release = self.nixos_release(&t, host);
        if let (Some(tool), Some(systems)) = (known_tool, systems) {
            for (i, s) in systems.iter().enumerate() {
                // NixOS's tool: the `interpreter = "nixos"` check below tells it.
                if tool.entry_for(s).is_none() && !native(s) && !tool.is_nixos() {
                    let serving: Vec<String> = registrations::TOOLS
                        .iter()
                        .filter(|t| t.entry_for(s).is_some())
                        .map(|t| format!("\"{}\"", t.name))
                        .collect();
                    self.fail::<()>(
                        Some(&format!("systems[{i}]")),
                        format!("`tool = \"{}\"` registers no entry for `{}` ({})", tool.name, s.double, tool.about),
                        Some(format!(
                            "use a tool that registers it ({}), or remove `{}`",
                            serving.join(", "),
                            s.double
                        )),
                    );
                }
            }
        }
        if let (Some(Interpreter::Nixos), Some(systems)) = (interpreter, systems) {
            let assertion = nixos_release.is_none_or(|r| r.own_system_assertion);
            for (i, s) in systems.iter().enumerate() {
                if assertion && crate::systems::own_system(host_arch) == Some(*s) {
                    self.fail::<()>(
                        Some(&format!("systems[{i}]")),
                        format!(
                            "`{}` is the {host_arch} NixOS host's own system: boot.binfmt.emulatedSystems rejects it, nixos/modules/system/boot/binfmt.nix fails with \"{}\" (nixpkgs#218465: registered, the entry took over every native binary and the machine stopped booting)",
                            s.double,
                            crate::systems::NIXOS_OWN_SYSTEM_ASSERTION
                        ),
                        Some(format!(
                            "remove `{}` from `systems` (the host runs it itself), or model a non-NixOS host with `host = \"non-nixos\"`; to reproduce nixpkgs#218465, model a release before the assertion: `binfmt.nixos-release = \"23.11\"`",
                            s.double
                        )),
                    );
                    continue;
                }
                if !s.nixos_emulated && !native(s) {
                    self.fail::<()>(
                        Some(&format!("systems[{i}]")),
                        format!(
                            "`{}` is not in nixpkgs' binfmt magics, so boot.binfmt.emulatedSystems rejects it",
                            s.double
                        ),
                        Some("use `interpreter = \"fhs\"` with a hand-written registration, or another system".into()),
                    );
                }
            }
        }
        Some(BinfmtSpec {
            interpreter: interpreter?,
            flags: flags?,
            emulator: emulator?,
            tool: tool?,
            nixos_release: nixos_release?,
        })
    }

    /// `binfmt.nixos-release`: a row of [`crate::systems::NIXOS_RELEASES`],
    /// only on a NixOS host.
    fn nixos_release(&self, binfmt: &Table, host: Option<HostKind>) -> Option<&'static NixosRelease> {
        let Some(name) = self.opt_str(binfmt, "binfmt.nixos-release")? else {
            return Some(NixosRelease::default_release());
        };
        let Some(release) = NixosRelease::find(&name) else {
            return self.bad_value("binfmt.nixos-release", &name, &NixosRelease::names());
        };
        if host == Some(HostKind::NonNixos) {
            return self.fail(
                Some("binfmt.nixos-release"),
                format!("`{}` is a release of NixOS's boot.binfmt module: it needs `host = \"nixos\"`", release.name),
                Some("set `host = \"nixos\"`, or remove `nixos-release`".into()),
            );
        }
        Some(release)
    }

    /// `binfmt.tool`: `Some(None)` when absent, `None` when wrong (told).
    fn tool(&self, binfmt: &Table, host: Option<HostKind>) -> Option<Option<&'static Tool>> {
        let Some(name) = self.opt_str(binfmt, "binfmt.tool")? else { return Some(None) };
        let Some(tool) = Tool::find(&name) else {
            let help = match registrations::closest(&name) {
                Some(near) => format!("did you mean \"{near}\"? the tools are: {}", registrations::known_list()),
                None => format!("the tools are: {}", registrations::known_list()),
            };
            return self.fail(Some("binfmt.tool"), format!("unknown registration tool `{}`", shown(&name)), Some(help));
        };
        if tool.is_nixos() && host == Some(HostKind::NonNixos) {
            return self.fail(
                Some("binfmt.tool"),
                format!("`{}` is NixOS's boot.binfmt module ({}): it needs `host = \"nixos\"`", tool.name, tool.about),
                Some(
                    "set `host = \"nixos\"`, or name the tool of a Debian-like host, e.g. `tool = \"debian-bookworm\"`"
                        .into(),
                ),
            );
        }
        Some(Some(tool))
    }

    /// Tells that `key`'s value contradicts what `tool` implies.
    fn contradicts_tool<T>(&self, key: &str, got: &str, tool: &Tool, implied: &str) -> Option<T> {
        self.fail(
            Some(&format!("binfmt.{key}")),
            format!(
                "`{}` contradicts `tool = \"{}\"`, which registers with {key} `{implied}` ({})",
                shown(got),
                tool.name,
                tool.about
            ),
            Some(format!("remove `{key}` (the tool decides it), or remove `tool`")),
        )
    }

    /// `binfmt.interpreter`; its default follows the tool, then `host` (`fhs`
    /// when the host is unknown).
    fn interpreter(&self, binfmt: &Table, host: Option<HostKind>, tool: Option<&Tool>) -> Option<Interpreter> {
        let tool_interpreter = tool.map(|t| if t.is_nixos() { Interpreter::Nixos } else { Interpreter::Fhs });
        let interpreter = match self.opt_str(binfmt, "binfmt.interpreter")?.as_deref() {
            None if tool_interpreter.is_some() => tool_interpreter?,
            None if host == Some(HostKind::Nixos) => Interpreter::Nixos,
            None => Interpreter::Fhs,
            Some("fhs") => Interpreter::Fhs,
            Some("nixos") => Interpreter::Nixos,
            Some("none") => Interpreter::None,
            Some(other) => return self.bad_value("binfmt.interpreter", other, &["fhs", "nixos", "none"]),
        };
        if let (Some(tool), Some(implied)) = (tool, tool_interpreter) {
            if interpreter != implied {
                return self.contradicts_tool("interpreter", interpreter.as_str(), tool, implied.as_str());
            }
        }
        if interpreter == Interpreter::Nixos && host == Some(HostKind::NonNixos) {
            return self.fail(
                Some("binfmt.interpreter"),
                "`nixos` (boot.binfmt.emulatedSystems) needs `host = \"nixos\"`".into(),
                Some(
                    "set `host = \"nixos\"`, or use `interpreter = \"fhs\"` for a Debian/Ubuntu-style registration"
                        .into(),
                ),
            );
        }
        Some(interpreter)
    }

    /// `binfmt.emulator`; its default follows the interpreter (`dynamic` for
    /// NixOS without preferStaticEmulators, else `static`).
    fn emulator(&self, binfmt: &Table, interpreter: Option<Interpreter>, tool: Option<&Tool>) -> Option<Emulator> {
        let tool_emulator = tool.map(|t| if t.static_emulator { Emulator::Static } else { Emulator::Dynamic });
        let emulator = match self.opt_str(binfmt, "binfmt.emulator")?.as_deref() {
            None if tool_emulator.is_some() => tool_emulator?,
            None if interpreter == Some(Interpreter::Nixos) => Emulator::Dynamic,
            None => Emulator::Static,
            Some("static") => Emulator::Static,
            Some("dynamic") => Emulator::Dynamic,
            Some(other) => return self.bad_value("binfmt.emulator", other, &["static", "dynamic"]),
        };
        if let (Some(tool), Some(implied)) = (tool, tool_emulator) {
            if emulator != implied {
                return self.contradicts_tool("emulator", emulator.as_str(), tool, implied.as_str());
            }
        }
        if interpreter == Some(Interpreter::None) && binfmt.contains_key("emulator") {
            return self.fail(
                Some("binfmt.emulator"),
                "an emulator means nothing when `interpreter = \"none\"` registers no entry".into(),
                Some("remove `emulator`, or choose `interpreter = \"fhs\"`".into()),
            );
        }
        Some(emulator)
    }

    /// `binfmt.flags` in canonical `POCF` order; checked against the
    /// interpreter and emulator when those are known.
    fn binfmt_flags(
        &self,
        binfmt: &Table,
        interpreter: Option<Interpreter>,
        emulator: Option<Emulator>,
        tool: Option<&Tool>,
    ) -> Option<String> {
        let given = self.opt_str(binfmt, "binfmt.flags")?;
        if interpreter == Some(Interpreter::None) && given.is_some() {
            return self.fail(
                Some("binfmt.flags"),
                "flags mean nothing when `interpreter = \"none\"` registers no entry".into(),
                Some("remove `flags`, or choose `interpreter = \"fhs\"`".into()),
            );
        }
        // NixOS derives the flags from the emulator (binfmt.nix: preserveArgvZero
        // for qemu, fixBinary only for a static one), so a NixOS lab's flags follow.
        let nixos_flags = if emulator == Some(Emulator::Static) { "PF" } else { "P" };
        // A tool's own flags, unless `flags` overrides them (a machine whose
        // admin changed the tool's entry).
        let default = match interpreter {
            _ if tool.is_some() => tool?.flags(),
            Some(Interpreter::None) => "",
            Some(Interpreter::Nixos) => nixos_flags,
            _ => "P",
        };
        let flags = self.flags(given.as_deref().unwrap_or(default))?;
        if let (Some(Interpreter::Nixos), Some(emulator)) = (interpreter, emulator) {
            if flags != nixos_flags {
                let (other, other_flags) =
                    if emulator == Emulator::Static { ("dynamic", "P") } else { ("static", "PF") };
                let why = if emulator == Emulator::Static {
                    "preferStaticEmulators registers the static qemu with `PF`"
                } else {
                    "without preferStaticEmulators NixOS registers its dynamically linked qemu wrapper with `P` alone"
                };
                return self.fail(
                    Some("binfmt.flags"),
                    format!("`{flags}` contradicts `emulator = \"{}\"`: {why}", emulator.as_str()),
                    Some(format!(
                        "remove `flags` (it follows from `emulator`), use `flags = \"{nixos_flags}\"`, or `emulator = \"{other}\"` for `{other_flags}`; `interpreter = \"fhs\"` registers other flags"
                    )),
                );
            }
        }
        Some(flags)
    }

    /// A word nix.conf can hold: a user, a setting's name or value.
    fn nix_word(&self, key: &str, word: &str) -> Option<()> {
        if word.is_empty() || word.chars().any(char::is_whitespace) {
            return self.fail(
                Some(key),
                format!(
                    "`{}` is empty or contains white space, and nix.conf splits values on white space",
                    shown(word)
                ),
                Some("give one word".into()),
            );
        }
        Some(())
    }

    fn nix(&self, table: &Table, host: Option<HostKind>, systems: Option<&[&'static NixSystem]>) -> Option<NixSpec> {
        let nix = self.sub_table(table, "nix", NIX_KEYS)?;
        let sandbox = match nix.get("sandbox") {
            None => Some(true),
            Some(Value::Boolean(b)) => Some(*b),
            Some(other) => self.wrong_type("nix.sandbox", "a boolean (true or false)", other),
        };
        let extra_sandbox_paths =
            self.str_array(&nix, "extra-sandbox-paths", "nix.extra-sandbox-paths").and_then(|paths| {
                let paths = paths.unwrap_or_default();
                let checked = paths
                    .iter()
                    .enumerate()
                    .map(|(i, p)| self.sandbox_path(&format!("nix.extra-sandbox-paths[{i}]"), p));
                // Collected fully first, so every bad path is told.
                checked.collect::<Vec<_>>().into_iter().all(|ok| ok.is_some()).then_some(paths)
            });
        let extra_platforms = match self.str_array(&nix, "extra-platforms", "nix.extra-platforms")? {
            Some(list) => {
                let checked: Vec<_> = list
                    .iter()
                    .enumerate()
                    .map(|(i, p)| self.system(&format!("nix.extra-platforms[{i}]"), p))
                    .collect();
                checked.iter().all(Option::is_some).then_some(list)
            }
            None => systems.map(|systems| systems.iter().map(|s| s.double.to_owned()).collect()),
        };
        let system_features = self.features(&nix, "system-features", "nix.system-features");
        let mode = match self.opt_str(&nix, "nix.mode")?.as_deref() {
            None => host.map(NixMode::default_for),
            Some("daemon") => Some(NixMode::Daemon),
            Some("single-user") => Some(NixMode::SingleUser),
            Some(other) => self.bad_value("nix.mode", other, &NixMode::NAMES),
        };
        let trusted_users = self.str_array(&nix, "trusted-users", "nix.trusted-users").and_then(|users| {
            let users = users.unwrap_or_else(|| vec!["root".to_owned()]);
            let checked: Vec<Option<()>> =
                users.iter().enumerate().map(|(i, u)| self.nix_word(&format!("nix.trusted-users[{i}]"), u)).collect();
            checked.iter().all(Option::is_some).then_some(users)
        });
        if nix.contains_key("trusted-users") && mode == Some(NixMode::SingleUser) {
            return self.fail(
                Some("nix.trusted-users"),
                "only a daemon has trusted users; single-user Nix runs every command as its own user".into(),
                Some("remove `trusted-users`, or set `mode = \"daemon\"`".into()),
            );
        }
        let emulated = match self.opt_str(&nix, "nix.emulated")? {
            None => Some(None),
            Some(double) => {
                let system = self.system("nix.emulated", &double)?;
                if mode == Some(NixMode::SingleUser) {
                    return self.fail(
                        Some("nix.emulated"),
                        "the emulated Nix runs as the lab's nix-daemon, and single-user Nix has none".into(),
                        Some("set `mode = \"daemon\"`, or remove `emulated`".into()),
                    );
                }
                if system.native_on.contains(&std::env::consts::ARCH) {
                    return self.fail(
                        Some("nix.emulated"),
                        format!("{double} runs natively here: its Nix would not be emulated"),
                        Some("name a foreign system, e.g. \"aarch64-linux\"".into()),
                    );
                }
                Some(Some(system))
            }
        };
        Some(NixSpec {
            sandbox: sandbox?,
            extra_sandbox_paths: extra_sandbox_paths?,
            extra_platforms: extra_platforms?,
            system_features: system_features?,
            mode: mode?,
            trusted_users: trusted_users?,
            emulated: emulated?,
        })
    }

    /// A list of Nix system features (`kvm`, `gccarch-armv7-a`): words, since
    /// nix.conf and `requiredSystemFeatures` split on white space.
    fn features(&self, table: &Table, key: &str, dotted: &str) -> Option<Option<Vec<String>>> {
        let list = self.str_array(table, key, dotted)?;
        let checked: Vec<Option<()>> = list
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, f)| {
                let k = format!("{dotted}[{i}]");
                if f.is_empty() || f.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return self.fail(
                        Some(&k),
                        format!("`{}` is not a system feature: Nix splits features on white space", shown(f)),
                        Some("give one word per feature, e.g. `\"gccarch-armv7-a\"` or `\"kvm\"`".into()),
                    );
                }
                if list.as_ref().is_some_and(|l| l[..i].contains(f)) {
                    return self.fail(
                        Some(&k),
                        format!("`{}` is listed twice", shown(f)),
                        Some("list each feature once".into()),
                    );
                }
                Some(())
            })
            .collect();
        checked.iter().all(Option::is_some).then_some(list)
    }

    /// `[machine]`: the host's state, as the report describes it.
    fn machine(&self, table: &Table, interpreter: Option<Interpreter>) -> Option<MachineSpec> {
        let t = self.sub_table(table, "machine", MACHINE_KEYS)?;
        let binfmt_misc = match self.opt_str(&t, "machine.binfmt-misc")?.as_deref() {
            None | Some("mounted") => Some(false),
            Some("not-mounted") => {
                if interpreter.is_some_and(|i| i != Interpreter::None) {
                    self.fail(
                        Some("machine.binfmt-misc"),
                        "with binfmt_misc not mounted nothing can be registered, yet `[binfmt]` registers an emulator".into(),
                        Some("set `[binfmt] interpreter = \"none\"`, or remove `binfmt-misc`".into()),
                    )
                } else {
                    Some(true)
                }
            }
            // systemd's proc-sys-fs-binfmt_misc.automount is autofs, which no
            // user namespace may mount ("unknown filesystem type").
            Some("automount") => self.fail(
                Some("machine.binfmt-misc"),
                "systemd's automount (autofs) cannot be mounted where a lab runs: the kernel refuses autofs in a user namespace".into(),
                Some("an automount mounts binfmt_misc on first use, as `\"mounted\"` (the default) is; for what a report blames on it, model the effect: `proc = \"partly-hidden\"` (a /proc Nix's sandbox cannot remount) or `binfmt-misc = \"not-mounted\"`".into()),
            ),
            Some(other) => self.bad_value("machine.binfmt-misc", other, &["mounted", "not-mounted"]),
        };
        let proc = match self.opt_str(&t, "machine.proc")?.as_deref() {
            None | Some("visible") => Some(false),
            Some("partly-hidden") => Some(true),
            Some(other) => self.bad_value("machine.proc", other, &["visible", "partly-hidden"]),
        };
        let missing = self.str_array(&t, "missing", "machine.missing").and_then(|list| {
            let list = list.unwrap_or_default();
            let checked: Vec<Option<()>> = list
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let k = format!("machine.missing[{i}]");
                    let under_run = p.strip_prefix("/run/").is_some_and(|rest| {
                        !rest.is_empty() && rest.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
                    });
                    if !under_run || p.starts_with("/run/crosslab") {
                        return self.fail(
                            Some(&k),
                            format!("`{}` is not a path under /run the lab can remove", shown(p)),
                            Some("a lab removes only what it owns: a path under /run (e.g. \"/run/binfmt\"), not crosslab's /run/crosslab; other paths are read-only".into()),
                        );
                    }
                    Some(())
                })
                .collect();
            checked.iter().all(Option::is_some).then_some(list)
        });
        Some(MachineSpec { binfmt_misc_unmounted: binfmt_misc?, proc_partly_hidden: proc?, missing: missing? })
    }

    /// Expectations no run can meet, told at the probe's key with the change that makes them possible.
    fn impossible_expectations(&self, nix: &NixSpec, probes: &[ProbeSpec], lab_systems: &[&'static NixSystem]) {
        for (i, p) in probes.iter().enumerate() {
            let key = format!("probe[{i}].expect-output");
            // A `command` probe's own shell may print an error and still exit 0.
            if p.expect == Expect::Pass && !p.kind.row().run {
                for text in p.expect_output.iter().flat_map(ExpectOutput::texts) {
                    if let Some(failure) = FAILURE_TEXTS.iter().find(|f| text.contains(**f)) {
                        self.fail::<()>(
                            Some(&key),
                            format!(
                                "expects `{}` from a probe that passes, but only a failing run prints {failure:?}",
                                shown(text)
                            ),
                            Some(
                                "set `expect = \"fail\"` to reproduce the error, or give the text a passing run prints"
                                    .into(),
                            ),
                        );
                    }
                }
            }
            // What a passing exec or build prints is the machine of what ran.
            if p.expect == Expect::Pass && matches!(p.kind, ProbeKind::Exec | ProbeKind::Build) {
                let systems = p.systems.as_deref().unwrap_or(lab_systems);
                let mut can_print: Vec<&str> = Vec::new();
                for s in systems {
                    for m in [s.uname, p.payload.unwrap_or(s).uname] {
                        if !can_print.contains(&m) {
                            can_print.push(m);
                        }
                    }
                }
                for text in p.expect_output.iter().flat_map(ExpectOutput::texts) {
                    let names_machine = systems::SYSTEMS.iter().any(|s| s.uname == text.trim());
                    if names_machine && !can_print.is_empty() && !can_print.contains(&text.trim()) {
                        self.fail::<()>(
                            Some(&key),
                            format!(
                                "a passing `{}` probe prints the machine of the program it runs ({}), never `{}`",
                                p.kind.as_str(),
                                can_print.join(" or "),
                                shown(text)
                            ),
                            Some("remove `expect-output` (the machine is derived from `systems` and `payload`), or change `payload`".into()),
                        );
                    }
                }
            }
            // Nix refuses a derivation whose features the machine lacks.
            if let (Expect::Pass, Some(features)) = (p.expect, &nix.system_features) {
                let lacking: Vec<&String> = p.required_features.iter().filter(|f| !features.contains(f)).collect();
                if !lacking.is_empty() {
                    let list: Vec<String> = lacking.iter().map(|f| format!("\"{f}\"")).collect();
                    self.fail::<()>(
                        Some(&format!("probe[{i}].required-system-features")),
                        format!(
                            "the build requires {} but `[nix] system-features` lacks it, so Nix refuses to build it (\"… is required to build …\")",
                            list.join(", ")
                        ),
                        Some(format!(
                            "add {} to `[nix] system-features`, or set `expect = \"fail\"` to reproduce the refusal",
                            list.join(", ")
                        )),
                    );
                }
            }
        }
    }

    fn probes(&self, table: &Table, lab_systems: Option<&[&'static NixSystem]>) -> Option<Vec<ProbeSpec>> {
        let values = match table.get("probe") {
            None => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(other) => return self.wrong_type("probe", "an array of tables (`[[probe]]`)", other),
        };
        if values.is_empty() {
            return self.fail(
                Some("probe"),
                "no probes: a lab checks at least one thing".into(),
                Some("add a `[[probe]]` table with `kind = \"build\"` (or binfmt, nix-config, exec, command)".into()),
            );
        }
        let probes: Vec<Option<ProbeSpec>> =
            values.iter().enumerate().map(|(i, v)| self.probe(i, v, lab_systems)).collect();
        probes.into_iter().collect()
    }

    /// Records every key of `table` not in `known`, with the nearest known one.
    fn known_keys(&self, table: &Table, prefix: &str, known: &[&str]) {
        for key in table.keys() {
            if known.contains(&key.as_str()) {
                continue;
            }
            // A quoted TOML key can hold anything: show it escaped and short.
            let dotted = format!("{prefix}{}", shown(key));
            let nearest =
                known.iter().map(|k| (strsim::levenshtein(key, k), *k)).min().filter(|(d, k)| *d <= 3.max(k.len() / 3));
            let help = match nearest {
                Some((_, k)) => format!("did you mean `{prefix}{k}`?"),
                None => format!(
                    "valid keys here are: {}",
                    known.iter().map(|k| format!("`{prefix}{k}`")).collect::<Vec<_>>().join(", ")
                ),
            };
            let span = self.key_span(prefix.trim_end_matches('.'), key);
            self.fail_at::<()>(Some(&dotted), span, "unknown key".into(), Some(help));
        }
    }

    fn wrong_type<T>(&self, key: &str, want: &str, got: &Value) -> Option<T> {
        self.fail(
            Some(key),
            format!("expected {want}, found a {}", got.type_str()),
            Some(format!("write `{key}` as {want}")),
        )
    }

    fn bad_value<T>(&self, key: &str, got: &str, allowed: &[&str]) -> Option<T> {
        let list = allowed.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ");
        let nearest = allowed.iter().map(|a| (strsim::levenshtein(got, a), *a)).min();
        let help = match nearest {
            Some((d, a)) if d <= 3 => format!("did you mean \"{a}\"? allowed: {list}"),
            _ => format!("allowed: {list}"),
        };
        self.fail(Some(key), format!("`{}` is not allowed", shown(got)), Some(help))
    }

    fn text(&self, key: &str, s: &str) -> Option<String> {
        if s.contains('\0') {
            return self.fail(
                Some(key),
                "contains a NUL byte, which no shell command, Nix string or file name can carry".into(),
                Some("remove the \\u0000 escape".into()),
            );
        }
        Some(s.to_owned())
    }

    fn required_str(&self, table: &Table, key: &str) -> Option<String> {
        match table.get(key) {
            Some(Value::String(s)) => self.text(key, s),
            Some(other) => self.wrong_type(key, "a string", other),
            None => self.fail(Some(key), "is missing".into(), Some(format!("add `{key} = \"…\"`; see README.md"))),
        }
    }

    /// An optional string: `Some(None)` when absent, `None` when wrong (told).
    fn opt_str(&self, table: &Table, dotted: &str) -> Option<Option<String>> {
        let key = dotted.rsplit('.').next().unwrap_or(dotted);
        match table.get(key) {
            None => Some(None),
            Some(Value::String(s)) => self.text(dotted, s).map(Some),
            Some(other) => self.wrong_type(dotted, "a string", other),
        }
    }

    /// An optional array of strings: `Some(None)` when absent, `None` when
    /// it or any item is wrong (each told).
    fn str_array(&self, table: &Table, key: &str, dotted: &str) -> Option<Option<Vec<String>>> {
        match table.get(key) {
            None => Some(None),
            Some(Value::Array(items)) => {
                let checked: Vec<Option<String>> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| match item {
                        Value::String(s) => self.text(&format!("{dotted}[{i}]"), s),
                        other => self.wrong_type(&format!("{dotted}[{i}]"), "a string", other),
                    })
                    .collect();
                checked.into_iter().collect::<Option<Vec<_>>>().map(Some)
            }
            Some(other) => self.wrong_type(dotted, "an array of strings", other),
        }
    }

    /// The table at `key` (empty when absent), its unknown keys told.
    fn sub_table(&self, table: &Table, key: &str, known: &[&str]) -> Option<Table> {
        match table.get(key) {
            None => Some(Table::new()),
            Some(Value::Table(t)) => {
                self.known_keys(t, &format!("{key}."), known);
                Some(t.clone())
            }
            Some(other) => self.wrong_type(key, &format!("a table (`[{key}]`)"), other),
        }
    }

    fn system(&self, key: &str, double: &str) -> Option<&'static NixSystem> {
        if let Some(s) = NixSystem::find(double) {
            return Some(s);
        }
        let (message, help) = if double.ends_with("-darwin") || double.contains("darwin") {
            (
                format!("`{}` cannot be emulated: binfmt_misc hands Linux executables to an emulator, and no emulator runs macOS (Mach-O) binaries on Linux", shown(double)),
                "build darwin targets on a Mac (or a remote darwin builder); crosslab emulates Linux systems only".to_owned(),
            )
        } else if double.ends_with("-windows") {
            (
                format!("`{}` is not a binfmt_misc system: Windows binaries run through wine via `stdenv.hostPlatform.emulator`", shown(double)),
                format!("emulate a Linux system instead: {}", systems::known_list()),
            )
        } else {
            let near = systems::closest(double);
            let help = if near.is_empty() {
                format!("known systems: {}", systems::known_list())
            } else {
                format!("did you mean {}?", near.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "))
            };
            (format!("unknown system `{}`", shown(double)), help)
        };
        self.fail(Some(key), message, Some(help))
    }

    fn flags(&self, raw: &str) -> Option<String> {
        let key = Some("binfmt.flags");
        for c in raw.chars() {
            if !"POCF".contains(c) {
                let help = if "pocf".contains(c) {
                    format!("flags are upper case: `flags = \"{}\"`", raw.to_ascii_uppercase())
                } else {
                    "flags are any of P (preserve argv[0]), O (open binary), C (credentials), F (fix binary: open the interpreter at registration)".to_owned()
                };
                return self.fail(key, format!("`{}` is not a binfmt_misc flag", c.escape_debug()), Some(help));
            }
            if raw.matches(c).count() > 1 {
                return self.fail(key, format!("flag `{c}` is given twice"), Some("give each flag once".into()));
            }
        }
        Some("POCF".chars().filter(|c| raw.contains(*c)).collect())
    }

    fn sandbox_path(&self, key: &str, p: &str) -> Option<()> {
        if p.chars().any(char::is_whitespace) {
            return self.fail(
                Some(key),
                format!("`{}` contains white space, and nix.conf splits values on white space", shown(p)),
                Some("use a path without spaces (a symlink to it works)".into()),
            );
        }
        // Nix accepts `path`, `target=source` and an optional `path?`.
        let source = p.rsplit('=').next().unwrap_or(p).trim_end_matches('?');
        if !source.starts_with('/') || p.split('=').any(|part| !part.trim_end_matches('?').starts_with('/')) {
            return self.fail(
                Some(key),
                format!("`{}` is not an absolute path", shown(p)),
                Some("sandbox paths are absolute: `/usr/bin/qemu-aarch64-static`, or `/inside=/outside`".into()),
            );
        }
        if let Some(long) = p.split('=').find(|part| part.len() > MAX_PATH_BYTES) {
            return self.fail(
                Some(key),
                format!("`{}` is longer than any path Linux opens ({MAX_PATH_BYTES} bytes)", shown(long)),
                Some("use a shorter path (a symlink to it works)".into()),
            );
        }
        Some(())
    }

    /// One `[[probe]]`: every key checked, the kind's rules only when the kind is known.
    fn probe(&self, index: usize, value: &Value, lab_systems: Option<&[&'static NixSystem]>) -> Option<ProbeSpec> {
        let prefix = format!("probe[{index}]");
        let Value::Table(t) = value else {
            return self.wrong_type(&prefix, "a table", value);
        };
        self.known_keys(t, &format!("{prefix}."), PROBE_KEYS);
        let key = |k: &str| format!("{prefix}.{k}");
        let kind = self.probe_kind(t, &key("kind"));
        let expect = match self.opt_str(t, &key("expect")).as_ref().map(Option::as_deref) {
            None => None,
            Some(None | Some("pass")) => Some(Expect::Pass),
            Some(Some("fail")) => Some(Expect::Fail),
            Some(Some(other)) => self.bad_value(&key("expect"), other, &["pass", "fail"]),
        };
        let expect_output = self.expect_output(t, &key("expect-output"));
        let required_features = self.probe_features(t, &key("required-system-features"), kind);
        let run = self.probe_run(t, &key("run"), kind);
        let timeout_secs = match t.get("timeout") {
            None => Some(DEFAULT_TIMEOUT_SECS),
            Some(Value::Integer(n)) if (1..=MAX_TIMEOUT_SECS as i64).contains(n) => Some(*n as u64),
            Some(Value::Integer(n)) => self.fail(
                Some(&key("timeout")),
                format!("{n} is out of range"),
                Some(format!("give seconds from 1 to {MAX_TIMEOUT_SECS}")),
            ),
            Some(other) => self.wrong_type(&key("timeout"), "a whole number of seconds", other),
        };
        let systems = self.probe_systems(t, &key("systems"), lab_systems);
        let payload = self.probe_payload(t, &key("payload"), kind);
        let qemu_cpu = self.probe_qemu_cpu(t, &key("qemu-cpu"), kind);
        let language = self.probe_language(t, &key("language"), kind);
        let nix_options = self.probe_settings(t, "nix-options", &prefix, kind, |r| r.nix_options);
        let set = self.probe_settings(t, "set", &prefix, kind, |r| r.edit);
        let restart_daemon = match t.get("restart-daemon") {
            None => Some(false),
            Some(Value::Boolean(b)) if kind?.row().edit => Some(*b),
            Some(Value::Boolean(_)) => self.fail(
                Some(&key("restart-daemon")),
                "only `nix-conf-edit` probes restart the daemon".into(),
                Some("remove it, or set `kind = \"nix-conf-edit\"`".into()),
            ),
            Some(other) => self.wrong_type(&key("restart-daemon"), "a boolean (true or false)", other),
        };
        if kind.is_some_and(|k| k.row().edit) && set.as_ref().is_some_and(Vec::is_empty) {
            return self.fail(
                Some(&key("set")),
                "is missing or empty: a `nix-conf-edit` probe needs the settings it writes".into(),
                Some("add e.g. `set = { extra-sandbox-paths = \"/usr/bin/qemu-aarch64-static\" }`".into()),
            );
        }
        Some(ProbeSpec {
            kind: kind?,
            expect: expect?,
            expect_output: expect_output?,
            run: run?,
            timeout_secs: timeout_secs?,
            systems: systems?,
            payload: payload?,
            qemu_cpu: qemu_cpu?,
            language: language?,
            required_features: required_features?,
            nix_options: nix_options?,
            set: set?,
            restart_daemon: restart_daemon?,
        })
    }

    /// `expect-output`: a string, or a table of strings by stack with an optional `default`.
    fn expect_output(&self, t: &Table, key: &str) -> Option<Option<ExpectOutput>> {
        let empty = |k: &str| {
            self.fail::<()>(
                Some(k),
                "is empty, so it would match any output".into(),
                Some("give the text the output must contain, or remove the key".into()),
            )
        };
        match t.get("expect-output") {
            None => Some(None),
            Some(Value::String(s)) if s.is_empty() => empty(key).map(|_| None),
            Some(Value::String(s)) => {
                self.text(key, s).map(|s| Some(ExpectOutput { default: Some(s), stacks: Vec::new() }))
            }
            Some(Value::Table(by_stack)) => {
                let mut out = ExpectOutput { default: None, stacks: Vec::new() };
                let mut ok = true;
                let allowed: Vec<&str> = std::iter::once("default").chain(STACK_NAMES.iter().copied()).collect();
                for (stack, value) in by_stack {
                    let k = format!("{key}.{}", shown(stack));
                    // `nix-2.8 = …` unquoted is the table `nix-2` holding `8`.
                    if let (Value::Table(t), Some(major)) = (value, stack.strip_prefix("nix-")) {
                        if let Some(minor) = t.keys().next().filter(|_| major.chars().all(|c| c.is_ascii_digit())) {
                            ok = false;
                            self.fail::<()>(
                                Some(&k),
                                format!("`{stack}.{minor}` unquoted is a table `{stack}` in TOML, not the Nix version {major}.{minor}"),
                                Some(format!("quote the key: `\"nix-{major}.{minor}\" = \"…\"`")),
                            );
                            continue;
                        }
                    }
                    let text = match value {
                        Value::String(s) if s.is_empty() => empty(&k).map(|_| String::new()),
                        Value::String(s) => self.text(&k, s),
                        other => self.wrong_type(&k, "a string", other),
                    };
                    if !allowed.contains(&stack.as_str()) && !is_nix_version_key(stack) {
                        ok = false;
                        let list = allowed.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ");
                        self.fail::<()>(
                            Some(&k),
                            format!("`{}` is neither a stack nor a Nix version", shown(stack)),
                            Some(format!("name a stack ({list}) or a Nix version as `nix-2.8`")),
                        );
                        continue;
                    }
                    match text {
                        Some(text) if stack == "default" => out.default = Some(text),
                        Some(text) => out.stacks.push((stack.clone(), text)),
                        None => ok = false,
                    }
                }
                if ok && out.default.is_none() && out.stacks.is_empty() {
                    return self.fail(
                        Some(key),
                        "is an empty table, so it expects nothing".into(),
                        Some(
                            "give `default = \"…\"` and a text per stack where it differs, e.g. `bookworm = \"…\"`"
                                .into(),
                        ),
                    );
                }
                ok.then_some(Some(out))
            }
            Some(other) => self.wrong_type(key, "a string or a table of strings by stack", other),
        }
    }

    /// `required-system-features` of a `build` probe.
    fn probe_features(&self, t: &Table, key: &str, kind: Option<ProbeKind>) -> Option<Vec<String>> {
        let Some(list) = self.features(t, "required-system-features", key)? else { return Some(Vec::new()) };
        if !kind?.row().features {
            return self.fail(
                Some(key),
                format!("a `{}` probe builds no derivation of its own", kind?.as_str()),
                Some(format!(
                    "use `required-system-features` on {} probes, or remove it",
                    ProbeKind::names_where(|r| r.features).join(" or ")
                )),
            );
        }
        Some(list)
    }

    /// A probe's table of Nix settings (`nix-options`, `set`): names and
    /// values nix.conf and `--option` can carry, only on the kinds whose row
    /// says `takes`.
    fn probe_settings(
        &self,
        t: &Table,
        name: &str,
        prefix: &str,
        kind: Option<ProbeKind>,
        takes: fn(&ProbeKindRow) -> bool,
    ) -> Option<Vec<(String, String)>> {
        let key = format!("{prefix}.{name}");
        let table = match t.get(name) {
            None => return Some(Vec::new()),
            Some(Value::Table(table)) => table,
            Some(other) => return self.wrong_type(&key, "a table of settings, e.g. `{ sandbox = \"false\" }`", other),
        };
        if !takes(kind?.row()) {
            return self.fail(
                Some(&key),
                format!("a `{}` probe takes no `{name}`", kind?.as_str()),
                Some(format!("use `{name}` on {} probes", ProbeKind::names_where(takes).join(" or "))),
            );
        }
        let checked: Vec<Option<(String, String)>> = table
            .iter()
            .map(|(setting, value)| {
                let k = format!("{key}.{setting}");
                let value = match value {
                    Value::String(v) => v.clone(),
                    Value::Boolean(b) => b.to_string(),
                    other => return self.wrong_type(&k, "a string (the setting's value as nix.conf writes it)", other),
                };
                self.nix_word(&k, setting)?;
                // A value may hold several words (a list), never a line break.
                if value.contains(['\n', '\r', '\0']) {
                    return self.fail(
                        Some(&k),
                        "contains a line break".into(),
                        Some("give the value on one line".into()),
                    );
                }
                Some((setting.clone(), value))
            })
            .collect();
        checked.into_iter().collect()
    }

    /// `language` of a `compile` probe (default C); no other kind takes it.
    fn probe_language(&self, t: &Table, key: &str, kind: Option<ProbeKind>) -> Option<Language> {
        let Some(l) = self.opt_str(t, key)? else { return Some(Language::C) };
        let names: Vec<&str> = Language::ALL.iter().map(|l| l.as_str()).collect();
        let Some(language) = Language::ALL.into_iter().find(|x| x.as_str() == l) else {
            return self.bad_value(key, &l, &names);
        };
        if !kind?.row().language {
            return self.fail(
                Some(key),
                format!("a `{}` probe compiles nothing", kind?.as_str()),
                Some(format!(
                    "use `language` on {} probes, or remove it",
                    ProbeKind::names_where(|r| r.language).join(" or ")
                )),
            );
        }
        Some(language)
    }

    fn probe_kind(&self, t: &Table, key: &str) -> Option<ProbeKind> {
        let kind = match t.get("kind") {
            Some(Value::String(s)) => s,
            Some(other) => return self.wrong_type(key, "a string", other),
            None => {
                return self.fail(
                    Some(key),
                    "is missing".into(),
                    Some(
                        "add `kind = \"build\"` (or binfmt, nix-config, exec, compile, command, nix-conf-edit)".into(),
                    ),
                )
            }
        };
        let kinds = ProbeKind::names_where(|_| true);
        match ProbeKind::named(kind) {
            Some(k) => Some(k),
            None => self.bad_value(key, kind, &kinds),
        }
    }

    /// `run`: required by `command` probes, refused by the others.
    fn probe_run(&self, t: &Table, key: &str, kind: Option<ProbeKind>) -> Option<Option<String>> {
        let run = self.opt_str(t, key)?;
        let kind = kind?;
        match (kind.row().run, &run) {
            (true, None) => self.fail(
                Some(key),
                "a `command` probe needs the shell command to run".into(),
                Some("add `run = \"…\"`; it sees the target system in $CROSSLAB_SYSTEM".into()),
            ),
            (true, Some(r)) if r.trim().is_empty() => {
                self.fail(Some(key), "is empty".into(), Some("give the shell command to run".into()))
            }
            (true, Some(r)) if r.len() > MAX_RUN_BYTES => self.fail(
                Some(key),
                format!("is {} bytes long, and a probe's command reaches /bin/sh as one argument, which Linux limits to 128 KiB", r.len()),
                Some(format!("shorten it to at most {MAX_RUN_BYTES} bytes, e.g. by moving the long part into a script the command runs")),
            ),
            (false, Some(_)) => self.fail(
                Some(key),
                format!("only `command` probes take `run`; a `{}` probe runs its own command", kind.as_str()),
                Some("remove `run`, or set `kind = \"command\"`".into()),
            ),
            _ => Some(run),
        }
    }

    /// `systems` of a probe: a non-empty subset of the lab's (checked when those are valid).
    fn probe_systems(
        &self,
        t: &Table,
        key: &str,
        lab_systems: Option<&[&'static NixSystem]>,
    ) -> Option<Option<Vec<&'static NixSystem>>> {
        let Some(names) = self.str_array(t, "systems", key)? else { return Some(None) };
        if names.is_empty() {
            return self.fail(
                Some(key),
                "is empty, so the probe would never run".into(),
                Some("remove the key to run on every system".into()),
            );
        }
        let checked: Vec<Option<&'static NixSystem>> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let k = format!("{key}[{i}]");
                let s = self.system(&k, n)?;
                if names[..i].contains(n) {
                    return self.fail(Some(&k), format!("`{n}` is listed twice"), Some("list each system once".into()));
                }
                if lab_systems.is_some_and(|lab| !lab.contains(&s)) {
                    return self.fail(
                        Some(&k),
                        format!("`{n}` is not one of the lab's `systems`"),
                        Some("add it to the top-level `systems`, or remove it here".to_owned()),
                    );
                }
                Some(s)
            })
            .collect();
        checked.into_iter().collect::<Option<Vec<_>>>().map(Some)
    }

    fn probe_payload(&self, t: &Table, key: &str, kind: Option<ProbeKind>) -> Option<Option<&'static NixSystem>> {
        let Some(p) = self.opt_str(t, key)? else { return Some(None) };
        if !kind?.row().payload {
            return self.fail(
                Some(key),
                format!("a `{}` probe runs no payload", kind?.as_str()),
                Some(format!("use `payload` on {} probes", ProbeKind::names_where(|r| r.payload).join(" or "))),
            );
        }
        self.system(key, &p).map(Some)
    }

    fn probe_qemu_cpu(&self, t: &Table, key: &str, kind: Option<ProbeKind>) -> Option<Option<String>> {
        let Some(cpu) = self.opt_str(t, key)? else { return Some(None) };
        if cpu.is_empty()
            || cpu.len() > MAX_QEMU_CPU_CHARS
            || !cpu.chars().all(|c| c.is_ascii_alphanumeric() || "-_.,=+".contains(c))
        {
            return self.fail(
                Some(key),
                format!("`{}` is not a qemu CPU model name", shown(&cpu)),
                Some("use a name from `qemu-arm-static -cpu help`, e.g. `arm926`".into()),
            );
        }
        if !kind?.row().qemu_cpu {
            return self.fail(
                Some(key),
                format!("a `{}` probe emulates nothing", kind?.as_str()),
                Some(format!("use `qemu-cpu` on {} probes", ProbeKind::names_where(|r| r.qemu_cpu).join(", "))),
            );
        }
        Some(Some(cpu))
    }
}
