//! Lab specs: reading a `labs/*.toml` file (or any path) into a validated [`Lab`].
//!
//! The contract is `shared/DESIGN.md`'s "Lab spec" section. Every error names
//! the file and the dotted key, and says how to fix it; callers exit with
//! status 2 on a [`SpecError`].

use std::fmt;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use crate::systems::{self, NixSystem};

/// A lab spec that has been read and validated.
#[derive(Debug)]
pub struct Lab {
    /// File stem, `[a-z0-9][a-z0-9-]*`.
    pub name: String,
    /// Where the spec was read from.
    pub path: PathBuf,
    pub description: String,
    pub host: HostKind,
    pub systems: Vec<&'static NixSystem>,
    pub binfmt: BinfmtSpec,
    pub nix: NixSpec,
    pub probes: Vec<ProbeSpec>,
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

/// Which qemu is registered: how the emulator is linked decides what a
/// chroot or sandbox must contain for it to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emulator {
    /// A statically linked qemu (Debian's qemu-user-static; NixOS with
    /// `boot.binfmt.preferStaticEmulators`).
    Static,
    /// A dynamically linked qemu, which needs its loader and libraries where
    /// it runs (Debian's qemu-user; NixOS's default `qemu-<arch>-binfmt-P` wrapper).
    Dynamic,
}

impl Emulator {
    pub fn as_str(self) -> &'static str {
        match self {
            Emulator::Static => "static",
            Emulator::Dynamic => "dynamic",
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
}

#[derive(Debug)]
pub struct NixSpec {
    pub sandbox: bool,
    pub extra_sandbox_paths: Vec<String>,
    pub extra_platforms: Vec<String>,
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
}

impl ProbeKind {
    pub const ALL: [ProbeKind; 6] = [
        ProbeKind::Binfmt,
        ProbeKind::NixConfig,
        ProbeKind::Exec,
        ProbeKind::Build,
        ProbeKind::Compile,
        ProbeKind::Command,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Binfmt => "binfmt",
            ProbeKind::NixConfig => "nix-config",
            ProbeKind::Exec => "exec",
            ProbeKind::Build => "build",
            ProbeKind::Compile => "compile",
            ProbeKind::Command => "command",
        }
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
    pub expect_output: Option<String>,
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
}

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

/// The longest `run` a `command` probe may have. The backends hand a probe's
/// command to `/bin/sh -c` as one argument, which Linux limits to 128 KiB
/// (MAX_ARG_STRLEN); crosslab's own lines before it need the rest.
pub const MAX_RUN_BYTES: usize = 127 * 1024;

/// The longest path Linux opens (PATH_MAX, without its NUL).
const MAX_PATH_BYTES: usize = 4095;

/// The longest qemu CPU model name crosslab accepts; qemu's are under 40.
const MAX_QEMU_CPU_CHARS: usize = 64;

/// A spec that cannot be used, with where and how to fix it.
#[derive(Debug)]
pub struct SpecError {
    pub file: PathBuf,
    /// Dotted key, e.g. `probe[2].expect`; `None` for whole-file problems.
    pub key: Option<String>,
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid lab spec `{}`", self.file.display())?;
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

const TOP_KEYS: &[&str] = &["description", "host", "systems", "binfmt", "nix", "probe"];
const BINFMT_KEYS: &[&str] = &["interpreter", "flags", "emulator"];
const NIX_KEYS: &[&str] = &["sandbox", "extra-sandbox-paths", "extra-platforms"];
const PROBE_KEYS: &[&str] =
    &["kind", "expect", "expect-output", "run", "timeout", "systems", "payload", "qemu-cpu", "language"];

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
pub fn load(path: &Path) -> Result<Lab, SpecError> {
    let err = |key: Option<&str>, message: String, help: Option<String>| SpecError {
        file: path.to_path_buf(),
        key: key.map(str::to_owned),
        message,
        help,
    };
    let bytes = std::fs::read(path).map_err(|e| {
        let help = (e.kind() == std::io::ErrorKind::NotFound)
            .then(|| "give a lab name from `cargo xtask lab list`, or a path to a .toml file".to_owned());
        err(None, format!("cannot read the file: {e}"), help)
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        err(
            None,
            format!("the file is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
            Some("a lab spec is a TOML text file; save it as UTF-8".to_owned()),
        )
    })?;
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
    if !is_lab_name(&name) {
        return Err(err(
            None,
            format!("`{name}` is not a valid lab name: the file stem must match [a-z0-9][a-z0-9-]*"),
            Some("rename the file, e.g. `my-repro.toml`".to_owned()),
        ));
    }
    parse(&name, path, &text)
}

/// Whether `name` is a valid lab name (`[a-z0-9][a-z0-9-]*`).
pub fn is_lab_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Validates spec text; `path` is only used in error messages and [`Lab::path`].
pub fn parse(name: &str, path: &Path, text: &str) -> Result<Lab, SpecError> {
    let v = Validator { file: path };
    let table: Table = text.parse().map_err(|e: toml::de::Error| {
        let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        v.err(
            None,
            format!("TOML syntax error at line {line}, column {col}: {}", e.message()),
            Some("fix the TOML syntax; see the spec format in README.md".to_owned()),
        )
    })?;
    v.known_keys(&table, "", TOP_KEYS)?;

    let description = v.required_str(&table, "description")?;
    if description.trim().is_empty() {
        return Err(v.err(
            Some("description"),
            "is empty".into(),
            Some("say in one line what the lab models and which report it reproduces".into()),
        ));
    }
    let host = match v.required_str(&table, "host")?.as_str() {
        "non-nixos" => HostKind::NonNixos,
        "nixos" => HostKind::Nixos,
        other => {
            return Err(v.bad_value("host", other, &["non-nixos", "nixos"]));
        }
    };

    let system_names = v.str_array(&table, "systems", "systems")?.unwrap_or_default();
    if system_names.is_empty() {
        return Err(v.err(
            Some("systems"),
            "no systems: a lab emulates at least one system".into(),
            Some("add e.g. `systems = [\"aarch64-linux\"]`".into()),
        ));
    }
    let systems = system_names
        .iter()
        .enumerate()
        .map(|(i, s)| v.system(&format!("systems[{i}]"), s))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, s) in systems.iter().enumerate() {
        if systems[..i].contains(s) {
            return Err(v.err(
                Some(&format!("systems[{i}]")),
                format!("`{}` is listed twice", s.double),
                Some("list each system once".into()),
            ));
        }
    }

    let binfmt = v.sub_table(&table, "binfmt", BINFMT_KEYS)?;
    let interpreter = match v.opt_str(&binfmt, "binfmt.interpreter")? {
        None if host == HostKind::Nixos => Interpreter::Nixos,
        None => Interpreter::Fhs,
        Some(s) => match s.as_str() {
            "fhs" => Interpreter::Fhs,
            "nixos" => Interpreter::Nixos,
            "none" => Interpreter::None,
            other => return Err(v.bad_value("binfmt.interpreter", other, &["fhs", "nixos", "none"])),
        },
    };
    if interpreter == Interpreter::Nixos && host == HostKind::NonNixos {
        return Err(v.err(
            Some("binfmt.interpreter"),
            "`nixos` (boot.binfmt.emulatedSystems) needs `host = \"nixos\"`".into(),
            Some(
                "set `host = \"nixos\"`, or use `interpreter = \"fhs\"` for a Debian/Ubuntu-style registration".into(),
            ),
        ));
    }
    let flags_given = v.opt_str(&binfmt, "binfmt.flags")?;
    if interpreter == Interpreter::None && flags_given.is_some() {
        return Err(v.err(
            Some("binfmt.flags"),
            "flags mean nothing when `interpreter = \"none\"` registers no entry".into(),
            Some("remove `flags`, or choose `interpreter = \"fhs\"`".into()),
        ));
    }
    let emulator = match v.opt_str(&binfmt, "binfmt.emulator")? {
        None if interpreter == Interpreter::Nixos => Emulator::Dynamic,
        None => Emulator::Static,
        Some(s) => match s.as_str() {
            "static" => Emulator::Static,
            "dynamic" => Emulator::Dynamic,
            other => return Err(v.bad_value("binfmt.emulator", other, &["static", "dynamic"])),
        },
    };
    if interpreter == Interpreter::None && binfmt.contains_key("emulator") {
        return Err(v.err(
            Some("binfmt.emulator"),
            "an emulator means nothing when `interpreter = \"none\"` registers no entry".into(),
            Some("remove `emulator`, or choose `interpreter = \"fhs\"`".into()),
        ));
    }
    // NixOS derives the flags from the emulator (binfmt.nix: preserveArgvZero
    // for qemu, fixBinary only for a static one), so a NixOS lab's flags follow.
    let nixos_flags = if emulator == Emulator::Static { "PF" } else { "P" };
    let default_flags = match interpreter {
        Interpreter::None => "",
        Interpreter::Nixos => nixos_flags,
        Interpreter::Fhs => "P",
    };
    let flags = v.flags(flags_given.as_deref().unwrap_or(default_flags))?;
    if interpreter == Interpreter::Nixos {
        if flags != nixos_flags {
            let (other, other_flags) = if emulator == Emulator::Static { ("dynamic", "P") } else { ("static", "PF") };
            let why = if emulator == Emulator::Static {
                "preferStaticEmulators registers the static qemu with `PF`"
            } else {
                "without preferStaticEmulators NixOS registers its dynamically linked qemu wrapper with `P` alone"
            };
            return Err(v.err(
                Some("binfmt.flags"),
                format!("`{flags}` contradicts `emulator = \"{}\"`: {why}", emulator.as_str()),
                Some(format!(
                    "remove `flags` (it follows from `emulator`), use `flags = \"{nixos_flags}\"`, or `emulator = \"{other}\"` for `{other_flags}`; `interpreter = \"fhs\"` registers other flags"
                )),
            ));
        }
        for (i, s) in systems.iter().enumerate() {
            if !s.nixos_emulated && !s.is_native_here() {
                return Err(v.err(
                    Some(&format!("systems[{i}]")),
                    format!(
                        "`{}` is not in nixpkgs' binfmt magics, so boot.binfmt.emulatedSystems rejects it",
                        s.double
                    ),
                    Some("use `interpreter = \"fhs\"` with a hand-written registration, or another system".into()),
                ));
            }
        }
    }

    let nix = v.sub_table(&table, "nix", NIX_KEYS)?;
    let sandbox = match nix.get("sandbox") {
        None => true,
        Some(Value::Boolean(b)) => *b,
        Some(other) => return Err(v.wrong_type("nix.sandbox", "a boolean (true or false)", other)),
    };
    let extra_sandbox_paths = v.str_array(&nix, "extra-sandbox-paths", "nix.extra-sandbox-paths")?.unwrap_or_default();
    for (i, p) in extra_sandbox_paths.iter().enumerate() {
        v.sandbox_path(&format!("nix.extra-sandbox-paths[{i}]"), p)?;
    }
    let extra_platforms = match v.str_array(&nix, "extra-platforms", "nix.extra-platforms")? {
        Some(list) => {
            for (i, p) in list.iter().enumerate() {
                let key = format!("nix.extra-platforms[{i}]");
                v.system(&key, p)?;
            }
            list
        }
        None => systems.iter().map(|s| s.double.to_owned()).collect(),
    };

    let probe_values = match table.get("probe") {
        None => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(other) => return Err(v.wrong_type("probe", "an array of tables (`[[probe]]`)", other)),
    };
    if probe_values.is_empty() {
        return Err(v.err(
            Some("probe"),
            "no probes: a lab checks at least one thing".into(),
            Some("add a `[[probe]]` table with `kind = \"build\"` (or binfmt, nix-config, exec, command)".into()),
        ));
    }
    let mut probes = Vec::new();
    for (i, pv) in probe_values.iter().enumerate() {
        probes.push(v.probe(i, pv, &systems)?);
    }

    Ok(Lab {
        name: name.to_owned(),
        path: path.to_path_buf(),
        description,
        host,
        systems,
        binfmt: BinfmtSpec { interpreter, flags, emulator },
        nix: NixSpec { sandbox, extra_sandbox_paths, extra_platforms },
        probes,
    })
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

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, col)
}

struct Validator<'a> {
    file: &'a Path,
}

impl Validator<'_> {
    fn err(&self, key: Option<&str>, message: String, help: Option<String>) -> SpecError {
        SpecError { file: self.file.to_path_buf(), key: key.map(str::to_owned), message, help }
    }

    fn known_keys(&self, table: &Table, prefix: &str, known: &[&str]) -> Result<(), SpecError> {
        for key in table.keys() {
            if !known.contains(&key.as_str()) {
                // A quoted TOML key can hold anything: show it escaped and short.
                let dotted = format!("{prefix}{}", shown(key));
                let nearest = known
                    .iter()
                    .map(|k| (strsim::levenshtein(key, k), *k))
                    .min()
                    .filter(|(d, k)| *d <= 3.max(k.len() / 3));
                let help = match nearest {
                    Some((_, k)) => format!("did you mean `{prefix}{k}`?"),
                    None => format!(
                        "valid keys here are: {}",
                        known.iter().map(|k| format!("`{prefix}{k}`")).collect::<Vec<_>>().join(", ")
                    ),
                };
                return Err(self.err(Some(&dotted), "unknown key".into(), Some(help)));
            }
        }
        Ok(())
    }

    fn wrong_type(&self, key: &str, want: &str, got: &Value) -> SpecError {
        self.err(
            Some(key),
            format!("expected {want}, found a {}", got.type_str()),
            Some(format!("write `{key}` as {want}")),
        )
    }

    fn bad_value(&self, key: &str, got: &str, allowed: &[&str]) -> SpecError {
        let list = allowed.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ");
        let nearest = allowed.iter().map(|a| (strsim::levenshtein(got, a), *a)).min();
        let help = match nearest {
            Some((d, a)) if d <= 3 => format!("did you mean \"{a}\"? allowed: {list}"),
            _ => format!("allowed: {list}"),
        };
        self.err(Some(key), format!("`{}` is not allowed", shown(got)), Some(help))
    }

    fn text(&self, key: &str, s: &str) -> Result<String, SpecError> {
        if s.contains('\0') {
            return Err(self.err(
                Some(key),
                "contains a NUL byte, which no shell command, Nix string or file name can carry".into(),
                Some("remove the \\u0000 escape".into()),
            ));
        }
        Ok(s.to_owned())
    }

    fn required_str(&self, table: &Table, key: &str) -> Result<String, SpecError> {
        match table.get(key) {
            Some(Value::String(s)) => self.text(key, s),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
            None => Err(self.err(Some(key), "is missing".into(), Some(format!("add `{key} = \"…\"`; see README.md")))),
        }
    }

    fn opt_str(&self, table: &Table, dotted: &str) -> Result<Option<String>, SpecError> {
        let key = dotted.rsplit('.').next().unwrap_or(dotted);
        match table.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => self.text(dotted, s).map(Some),
            Some(other) => Err(self.wrong_type(dotted, "a string", other)),
        }
    }

    fn str_array(&self, table: &Table, key: &str, dotted: &str) -> Result<Option<Vec<String>>, SpecError> {
        match table.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => self.text(&format!("{dotted}[{i}]"), s),
                    other => Err(self.wrong_type(&format!("{dotted}[{i}]"), "a string", other)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(self.wrong_type(dotted, "an array of strings", other)),
        }
    }

    fn sub_table(&self, table: &Table, key: &str, known: &[&str]) -> Result<Table, SpecError> {
        match table.get(key) {
            None => Ok(Table::new()),
            Some(Value::Table(t)) => {
                self.known_keys(t, &format!("{key}."), known)?;
                Ok(t.clone())
            }
            Some(other) => Err(self.wrong_type(key, &format!("a table (`[{key}]`)"), other)),
        }
    }

    fn system(&self, key: &str, double: &str) -> Result<&'static NixSystem, SpecError> {
        if let Some(s) = NixSystem::find(double) {
            return Ok(s);
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
        Err(self.err(Some(key), message, Some(help)))
    }

    fn flags(&self, raw: &str) -> Result<String, SpecError> {
        let key = "binfmt.flags";
        for c in raw.chars() {
            if !"POCF".contains(c) {
                let help = if "pocf".contains(c) {
                    format!("flags are upper case: `flags = \"{}\"`", raw.to_ascii_uppercase())
                } else {
                    "flags are any of P (preserve argv[0]), O (open binary), C (credentials), F (fix binary: open the interpreter at registration)".to_owned()
                };
                return Err(self.err(
                    Some(key),
                    format!("`{}` is not a binfmt_misc flag", c.escape_debug()),
                    Some(help),
                ));
            }
            if raw.matches(c).count() > 1 {
                return Err(self.err(
                    Some(key),
                    format!("flag `{c}` is given twice"),
                    Some("give each flag once".into()),
                ));
            }
        }
        Ok("POCF".chars().filter(|c| raw.contains(*c)).collect())
    }

    fn sandbox_path(&self, key: &str, p: &str) -> Result<(), SpecError> {
        if p.chars().any(char::is_whitespace) {
            return Err(self.err(
                Some(key),
                format!("`{}` contains white space, and nix.conf splits values on white space", shown(p)),
                Some("use a path without spaces (a symlink to it works)".into()),
            ));
        }
        // Nix accepts `path`, `target=source` and an optional `path?`.
        let source = p.rsplit('=').next().unwrap_or(p).trim_end_matches('?');
        if !source.starts_with('/') || p.split('=').any(|part| !part.trim_end_matches('?').starts_with('/')) {
            return Err(self.err(
                Some(key),
                format!("`{}` is not an absolute path", shown(p)),
                Some("sandbox paths are absolute: `/usr/bin/qemu-aarch64-static`, or `/inside=/outside`".into()),
            ));
        }
        if let Some(long) = p.split('=').find(|part| part.len() > MAX_PATH_BYTES) {
            return Err(self.err(
                Some(key),
                format!("`{}` is longer than any path Linux opens ({MAX_PATH_BYTES} bytes)", shown(long)),
                Some("use a shorter path (a symlink to it works)".into()),
            ));
        }
        Ok(())
    }

    fn probe(&self, index: usize, value: &Value, lab_systems: &[&'static NixSystem]) -> Result<ProbeSpec, SpecError> {
        let prefix = format!("probe[{index}]");
        let Value::Table(t) = value else {
            return Err(self.wrong_type(&prefix, "a table", value));
        };
        self.known_keys(t, &format!("{prefix}."), PROBE_KEYS)?;
        let key = |k: &str| format!("{prefix}.{k}");
        let kind_str = match t.get("kind") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => return Err(self.wrong_type(&key("kind"), "a string", other)),
            None => {
                return Err(self.err(
                    Some(&key("kind")),
                    "is missing".into(),
                    Some("add `kind = \"build\"` (or binfmt, nix-config, exec, compile, command)".into()),
                ))
            }
        };
        let kinds: Vec<&str> = ProbeKind::ALL.iter().map(|k| k.as_str()).collect();
        let kind = ProbeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == kind_str)
            .ok_or_else(|| self.bad_value(&key("kind"), &kind_str, &kinds))?;
        let expect = match self.opt_str(t, &key("expect"))?.as_deref() {
            None | Some("pass") => Expect::Pass,
            Some("fail") => Expect::Fail,
            Some(other) => return Err(self.bad_value(&key("expect"), other, &["pass", "fail"])),
        };
        let expect_output = self.opt_str(t, &key("expect-output"))?;
        if expect_output.as_deref() == Some("") {
            return Err(self.err(
                Some(&key("expect-output")),
                "is empty, so it would match any output".into(),
                Some("give the text the output must contain, or remove the key".into()),
            ));
        }
        let run = self.opt_str(t, &key("run"))?;
        match (kind, &run) {
            (ProbeKind::Command, None) => {
                return Err(self.err(
                    Some(&key("run")),
                    "a `command` probe needs the shell command to run".into(),
                    Some("add `run = \"…\"`; it sees the target system in $CROSSLAB_SYSTEM".into()),
                ))
            }
            (ProbeKind::Command, Some(r)) if r.trim().is_empty() => {
                return Err(self.err(Some(&key("run")), "is empty".into(), Some("give the shell command to run".into())))
            }
            (ProbeKind::Command, Some(r)) if r.len() > MAX_RUN_BYTES => {
                return Err(self.err(
                    Some(&key("run")),
                    format!("is {} bytes long, and a probe's command reaches /bin/sh as one argument, which Linux limits to 128 KiB", r.len()),
                    Some(format!("shorten it to at most {MAX_RUN_BYTES} bytes, e.g. by moving the long part into a script the command runs")),
                ))
            }
            (k, Some(_)) if k != ProbeKind::Command => {
                return Err(self.err(
                    Some(&key("run")),
                    format!("only `command` probes take `run`; a `{}` probe runs its own command", k.as_str()),
                    Some("remove `run`, or set `kind = \"command\"`".into()),
                ))
            }
            _ => {}
        }
        let timeout_secs = match t.get("timeout") {
            None => DEFAULT_TIMEOUT_SECS,
            Some(Value::Integer(n)) if (1..=86_400).contains(n) => *n as u64,
            Some(Value::Integer(n)) => {
                return Err(self.err(
                    Some(&key("timeout")),
                    format!("{n} is out of range"),
                    Some("give seconds from 1 to 86400".into()),
                ))
            }
            Some(other) => return Err(self.wrong_type(&key("timeout"), "a whole number of seconds", other)),
        };
        let systems = match self.str_array(t, "systems", &key("systems"))? {
            None => None,
            Some(names) => {
                let mut out = Vec::new();
                for (i, n) in names.iter().enumerate() {
                    let k = format!("{}[{i}]", key("systems"));
                    let s = self.system(&k, n)?;
                    if !lab_systems.contains(&s) {
                        return Err(self.err(
                            Some(&k),
                            format!("`{n}` is not one of the lab's `systems`"),
                            Some("add it to the top-level `systems`, or remove it here".to_owned()),
                        ));
                    }
                    out.push(s);
                }
                if out.is_empty() {
                    return Err(self.err(
                        Some(&key("systems")),
                        "is empty, so the probe would never run".into(),
                        Some("remove the key to run on every system".into()),
                    ));
                }
                Some(out)
            }
        };
        let payload = match self.opt_str(t, &key("payload"))? {
            None => None,
            Some(p) => {
                if !matches!(kind, ProbeKind::Exec | ProbeKind::Build) {
                    return Err(self.err(
                        Some(&key("payload")),
                        format!("a `{}` probe runs no payload", kind.as_str()),
                        Some("use `payload` on exec or build probes".into()),
                    ));
                }
                Some(self.system(&key("payload"), &p)?)
            }
        };
        let qemu_cpu = self.opt_str(t, &key("qemu-cpu"))?;
        if let Some(cpu) = &qemu_cpu {
            if cpu.is_empty()
                || cpu.len() > MAX_QEMU_CPU_CHARS
                || !cpu.chars().all(|c| c.is_ascii_alphanumeric() || "-_.,=+".contains(c))
            {
                return Err(self.err(
                    Some(&key("qemu-cpu")),
                    format!("`{}` is not a qemu CPU model name", shown(cpu)),
                    Some("use a name from `qemu-arm-static -cpu help`, e.g. `arm926`".into()),
                ));
            }
            if !matches!(kind, ProbeKind::Exec | ProbeKind::Build | ProbeKind::Compile | ProbeKind::Command) {
                return Err(self.err(
                    Some(&key("qemu-cpu")),
                    format!("a `{}` probe emulates nothing", kind.as_str()),
                    Some("use `qemu-cpu` on exec, build, compile or command probes".into()),
                ));
            }
        }
        let language = match self.opt_str(t, &key("language"))? {
            None => Language::C,
            Some(l) => {
                let names: Vec<&str> = Language::ALL.iter().map(|l| l.as_str()).collect();
                let language = Language::ALL
                    .into_iter()
                    .find(|x| x.as_str() == l)
                    .ok_or_else(|| self.bad_value(&key("language"), &l, &names))?;
                if kind != ProbeKind::Compile {
                    return Err(self.err(
                        Some(&key("language")),
                        format!("a `{}` probe compiles nothing", kind.as_str()),
                        Some("use `language` on compile probes, or remove it".into()),
                    ));
                }
                language
            }
        };
        Ok(ProbeSpec { kind, expect, expect_output, run, timeout_secs, systems, payload, qemu_cpu, language })
    }
}
