//! `lab schema`: the lab spec contract as a JSON Schema, for editors.
//!
//! taplo and Even Better TOML validate and complete a TOML file against the
//! schema named on its first line (`#:schema ../schema/lab.schema.json`); the
//! shipped labs carry that line. The schema is built from `spec.rs`'s own
//! tables (keys, probe kinds, systems, limits), and may be looser than
//! `lab check` (it cannot say "a system the table knows but nixpkgs' binfmt
//! magics lack"), never stricter: `tests/schema.rs` checks both directions
//! that matter. The committed copy is `schema/lab.schema.json`, kept fresh
//! like rendered files.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{json, Map, Value as Json};

use crate::flags;
use crate::render::generated::GeneratedFiles;
use crate::spec::{self, ProbeKind, MAX_QEMU_CPU_CHARS, MAX_TIMEOUT_SECS};
use crate::systems::SYSTEMS;

/// Where the schema is committed, relative to the repository root.
pub const SCHEMA_PATH: &str = "schema/lab.schema.json";

/// The command that regenerates [`SCHEMA_PATH`].
pub const SCHEMA_COMMAND: &str = "cargo xtask lab schema --write";

impl flags::Schema {
    pub fn run(self, root: &Path) -> anyhow::Result<ExitCode> {
        let text = schema_text();
        if !self.write && !self.check {
            print!("{text}");
            return Ok(ExitCode::SUCCESS);
        }
        let mut output = GeneratedFiles::new(root, self.check);
        output.update(Path::new(SCHEMA_PATH), &text)?;
        match (output.stale.first(), self.check) {
            (None, _) => println!("{SCHEMA_PATH} is fresh"),
            (Some(stale), true) => {
                eprintln!("stale: {stale}\nrun `{SCHEMA_COMMAND}` to regenerate");
                return Ok(ExitCode::from(1));
            }
            (Some(_), false) => println!("wrote {}", root.join(SCHEMA_PATH).display()),
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The schema as committed: pretty JSON with a trailing newline.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&lab_schema()).expect("a JSON value serialises");
    text.push('\n');
    text
}

/// The JSON Schema (draft-07, which taplo and Even Better TOML read) of a lab spec.
pub fn lab_schema() -> Json {
    let systems: Vec<&str> = SYSTEMS.iter().map(|s| s.double).collect();
    let system = json!({ "type": "string", "enum": systems });
    let system_list = |description: &str| json!({ "description": description, "type": "array", "items": system, "minItems": 1, "uniqueItems": true });
    let kinds = ProbeKind::names_where(|_| true);
    let feature = json!({ "type": "string", "pattern": "^\\S+$" });
    // A check that needs the probe's kind to be one of `kinds`.
    let kind_in = |kinds: &[&str]| json!({ "properties": { "kind": { "enum": kinds } }, "required": ["kind"] });
    let forbids = |key: &str| json!({ "not": { "required": [key] } });

    let top = properties(
        spec::TOP_KEYS,
        &[
            (
                "description",
                json!({
                    "description": "One line saying what the lab models and which report it reproduces.",
                    "type": "string",
                    "pattern": "\\S",
                }),
            ),
            (
                "host",
                json!({
                    "description": "The kind of machine modelled: `non-nixos` (Debian, Ubuntu, … with Nix beside the distribution) or `nixos`.",
                    "enum": ["non-nixos", "nixos"],
                }),
            ),
            (
                "host-system",
                json!({
                    "description": "The machine modelled, when it is not the one crosslab runs on: its Nix system. A host other than this machine's architecture runs in a VM of that architecture (`--backend vm`). Default: this machine.",
                    "enum": crate::systems::HOST_SYSTEMS.iter().map(|h| h.double).collect::<Vec<_>>(),
                }),
            ),
            (
                "host-cpu",
                json!({
                    "description": format!(
                        "The modelled host's CPU (a qemu CPU model; needs `host-system`), which decides what it runs natively: {}. Default: the first of its host system.",
                        crate::systems::HOST_SYSTEMS.iter().flat_map(|h| h.cpus.iter().map(move |c| format!("`{}` ({}): {}", c.name, h.double, c.about))).collect::<Vec<_>>().join("; ")
                    ),
                    "enum": crate::systems::HOST_SYSTEMS.iter().flat_map(|h| h.cpus.iter().map(|c| c.name)).collect::<Vec<_>>(),
                }),
            ),
            ("systems", system_list("Nix system doubles to emulate; every probe runs once for each.")),
            (
                "binfmt",
                json!({
                    "description": "Who registers the emulator with binfmt_misc, and with which flags.",
                    "type": "object",
                    "additionalProperties": false,
                    "properties": properties(spec::BINFMT_KEYS, &[
                        ("tool", json!({
                            "description": format!(
                                "The registering tool whose binfmt_misc entries are written byte for byte (name, offset, magic, mask, interpreter, flags), as xtask/src/registrations.rs reads them from each tool's files: {}. It implies `interpreter` and `emulator` (giving either otherwise is an error); `flags` overrides the tool's flags.",
                                crate::registrations::TOOLS.iter().map(|t| format!("`{}`: {}", t.name, t.about)).collect::<Vec<_>>().join("; ")
                            ),
                            "enum": crate::registrations::TOOLS.iter().map(|t| t.name).collect::<Vec<_>>(),
                        })),
                        ("interpreter", json!({
                            "description": "`fhs`: /usr/bin/qemu-<arch>-static (Debian/Ubuntu, tonistiigi/binfmt); `nixos`: boot.binfmt.emulatedSystems (host = \"nixos\" only); `none`: nothing registered. Default: `nixos` on a NixOS host, else `fhs`.",
                            "enum": ["fhs", "nixos", "none"],
                        })),
                        ("emulator", json!({
                            "description": "Which qemu is registered: `static` (qemu-user-static; NixOS with preferStaticEmulators) or `dynamic` (needs its libraries where it runs). Default: `dynamic` for interpreter = \"nixos\", else `static`.",
                            "enum": ["static", "dynamic"],
                        })),
                        ("nixos-release", json!({
                            "description": format!(
                                "The NixOS release whose boot.binfmt module the host runs (host = \"nixos\" only), as xtask/src/systems.rs NIXOS_RELEASES reads it from nixpkgs: before 24.05 the host's own system in emulatedSystems is registered (nixpkgs#218465); before 23.05 32-bit ARM counts as native on aarch64 (nixpkgs#171297). Default `{}`; only that release has a check in the flake.",
                                crate::systems::NixosRelease::DEFAULT
                            ),
                            "enum": crate::systems::NixosRelease::names(),
                        })),
                        ("flags", json!({
                            "description": "binfmt_misc flags, any of P (preserve argv[0]), O (open binary), C (credentials), F (fix binary), each once. Default \"P\".",
                            "type": "string",
                            "pattern": "^[POCF]{0,4}$",
                        })),
                    ]),
                }),
            ),
            (
                "nix",
                json!({
                    "description": "How Nix is configured (nix.conf, or nix.settings on NixOS).",
                    "type": "object",
                    "additionalProperties": false,
                    "properties": properties(spec::NIX_KEYS, &[
                        ("sandbox", json!({ "description": "Whether builds run in Nix's sandbox. Default true.", "type": "boolean" })),
                        ("extra-sandbox-paths", json!({
                            "description": "Paths the sandbox sees: `/path`, `/inside=/outside`, or `/path?` (optional). No white space: nix.conf splits on it.",
                            "type": "array",
                            "items": { "type": "string", "pattern": "^/\\S*$", "maxLength": 2 * 4095 + 2 },
                        })),
                        ("extra-platforms", json!({
                            "description": "Systems Nix builds for besides its own. Default: the lab's systems.",
                            "type": "array",
                            "items": system,
                        })),
                        ("system-features", json!({
                            "description": "Nix's system-features (e.g. `gccarch-armv7-a`, `kvm`): what a derivation's requiredSystemFeatures may ask of this machine. Default: Nix's own, which depend on the machine.",
                            "type": "array",
                            "uniqueItems": true,
                            "items": feature,
                        })),
                        ("mode", json!({
                            "description": "`daemon`: a root nix-daemon builds as the nixbld users and the probes are its unprivileged client `crosslab` (NixOS, Debian's nix-bin with nix-setup-systemd, the installer's multi-user mode); `single-user`: every command opens the store itself, without build users. Default `daemon`.",
                            "enum": spec::NixMode::NAMES,
                        })),
                        ("emulated", json!({
                            "description": "Run the stack's Nix for this system as the lab's daemon under qemu-user (Nix in an emulated container, nix#5258); host backend, daemon mode.",
                            "type": "string",
                            "enum": systems,
                        })),
                        ("trusted-users", json!({
                            "description": "The daemon's trusted-users (daemon mode only): users or @groups whose restricted settings it accepts. Default [\"root\"]; the probes' user is `crosslab`.",
                            "type": "array",
                            "items": { "type": "string", "pattern": "^\\S+$" },
                        })),
                    ]),
                }),
            ),
            (
                "machine",
                json!({
                    "description": "The host's state as a report describes it, applied once the lab's entries are registered.",
                    "type": "object",
                    "additionalProperties": false,
                    "properties": properties(spec::MACHINE_KEYS, &[
                        ("binfmt-misc", json!({
                            "description": "`mounted` (default) or `not-mounted`: no binfmt_misc at /proc/sys/fs/binfmt_misc, so nothing is registered (needs `[binfmt] interpreter = \"none\"`). systemd's automount (autofs) cannot be mounted in a user namespace and is not offered.",
                            "enum": ["mounted", "not-mounted"],
                        })),
                        ("proc", json!({
                            "description": "`visible` (default) or `partly-hidden`: a file is mounted over /proc/uptime, so /proc is not fully visible and Nix's sandbox cannot mount its own (nix#7783).",
                            "enum": ["visible", "partly-hidden"],
                        })),
                        ("missing", json!({
                            "description": "Paths under /run that do not exist though the configuration names them, e.g. `/run/binfmt` (NixOS-WSL#552).",
                            "type": "array",
                            "uniqueItems": true,
                            "items": { "type": "string", "pattern": "^/run/[^/]+(/[^/]+)*$" },
                        })),
                    ]),
                }),
            ),
            (
                "probe",
                json!({
                    "description": "What must work (or fail, as reported): one [[probe]] table each.",
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["kind"],
                        "properties": properties(spec::PROBE_KEYS, &[
                            ("kind", json!({
                                "description": spec::PROBE_KINDS.iter().map(|r| format!("{}: {}", r.name, r.checks)).collect::<Vec<_>>().join("; "),
                                "enum": kinds,
                            })),
                            ("expect", json!({ "description": "Whether the probe must pass or fail. Default \"pass\".", "enum": ["pass", "fail"] })),
                            ("expect-output", json!({
                                "description": format!("The whole expected text of the output, which must contain it (it replaces the kind's own line): a string, or a table by stack or Nix version (`default`, {}, `nix-2.8`) where Nix words it differently: a run takes its stack's text, else its Nix's, else `default`.", spec::STACK_NAMES.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")),
                                "oneOf": [
                                    { "type": "string", "minLength": 1 },
                                    {
                                        "type": "object",
                                        "minProperties": 1,
                                        "additionalProperties": false,
                                        "patternProperties": { "^nix-[0-9]+\\.[0-9]+$": { "type": "string", "minLength": 1 } },
                                        "properties": std::iter::once("default").chain(spec::STACK_NAMES.iter().copied()).map(|s| (s.to_owned(), json!({ "type": "string", "minLength": 1 }))).collect::<serde_json::Map<_, _>>(),
                                    },
                                ],
                            })),
                            ("required-system-features", json!({
                                "description": "The `build` probe's derivation requires these system features (requiredSystemFeatures); Nix refuses it where `system-features` lacks one.",
                                "type": "array",
                                "uniqueItems": true,
                                "items": feature,
                            })),
                            ("run", json!({
                                "description": "The shell command of a `command` probe; it sees the target system in $CROSSLAB_SYSTEM.",
                                "type": "string",
                                "pattern": "\\S",
                                "maxLength": spec::MAX_RUN_BYTES,
                            })),
                            ("timeout", json!({
                                "description": format!("Seconds before the probe is stopped. Default {}.", spec::DEFAULT_TIMEOUT_SECS),
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_TIMEOUT_SECS,
                            })),
                            ("systems", system_list("Only these of the lab's systems. Default: all.")),
                            ("payload", json!({ "description": "Run this system's payload instead of the probe's own (exec, build).", "type": "string", "enum": systems })),
                            ("language", json!({
                                "description": "What a `compile` probe compiles. Default \"c\".",
                                "enum": spec::Language::ALL.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
                            })),
                            ("nix-options", json!({
                                "description": "Settings a `build` probe passes as `--option name value`; a daemon ignores the restricted ones from an untrusted client.",
                                "type": "object",
                                "additionalProperties": { "type": ["string", "boolean"] },
                            })),
                            ("set", json!({
                                "description": "Settings a `nix-conf-edit` probe appends to the lab's nix.conf.",
                                "type": "object",
                                "minProperties": 1,
                                "additionalProperties": { "type": ["string", "boolean"] },
                            })),
                            ("restart-daemon", json!({ "description": "Whether a `nix-conf-edit` probe restarts the daemon after the edit. Default false.", "type": "boolean" })),
                            ("qemu-cpu", json!({
                                "description": "Pin the emulated CPU model (exec, build, compile, command), e.g. `arm926`.",
                                "type": "string",
                                "pattern": format!("^[A-Za-z0-9._,=+-]{{1,{MAX_QEMU_CPU_CHARS}}}$"),
                            })),
                        ]),
                        "allOf": [
                            { "if": kind_in(&ProbeKind::names_where(|r| r.run)), "then": { "required": ["run"] }, "else": forbids("run") },
                            { "if": kind_in(&ProbeKind::names_where(|r| !r.payload)), "then": forbids("payload") },
                            { "if": kind_in(&ProbeKind::names_where(|r| !r.qemu_cpu)), "then": forbids("qemu-cpu") },
                            { "if": kind_in(&ProbeKind::names_where(|r| !r.language)), "then": forbids("language") },
                            { "if": kind_in(&ProbeKind::names_where(|r| !r.features)), "then": forbids("required-system-features") },
                            { "if": kind_in(&ProbeKind::names_where(|r| !r.nix_options)), "then": forbids("nix-options") },
                            { "if": kind_in(&ProbeKind::names_where(|r| r.edit)), "then": { "required": ["set"] }, "else": { "allOf": [forbids("set"), forbids("restart-daemon")] } },
                        ],
                    },
                }),
            ),
        ],
    );
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$comment": format!("generated by `{SCHEMA_COMMAND}` from xtask/src/schema.rs; do not edit"),
        "title": "crosslab lab spec",
        "description": "A lab: who registers the emulator with binfmt_misc, how Nix is configured, and what must work. See README.md.",
        "type": "object",
        "additionalProperties": false,
        "required": ["description", "host", "systems", "probe"],
        "properties": top,
        "allOf": [
            {
                "if": { "properties": { "host": { "const": "non-nixos" } }, "required": ["host"] },
                "then": { "properties": { "binfmt": { "properties": {
                    "interpreter": { "not": { "const": "nixos" } },
                    "tool": { "not": { "enum": crate::registrations::TOOLS.iter().filter(|t| t.is_nixos()).map(|t| t.name).collect::<Vec<_>>() } },
                }, "allOf": [forbids("nixos-release")] } } },
            },
            {
                "if": { "properties": { "binfmt": { "properties": { "interpreter": { "const": "none" } }, "required": ["interpreter"] } }, "required": ["binfmt"] },
                "then": { "properties": { "binfmt": { "allOf": [forbids("flags"), forbids("emulator")] } } },
            },
            {
                "if": { "properties": { "binfmt": { "properties": { "interpreter": { "const": "nixos" } }, "required": ["interpreter"] } }, "required": ["binfmt"] },
                "then": { "properties": { "binfmt": { "properties": { "flags": { "enum": ["P", "PF", "FP"] } } } } },
            },
        ],
    })
}

/// The `properties` object for `keys`, in their order; every key must be described.
fn properties(keys: &[&str], described: &[(&str, Json)]) -> Json {
    let mut out = Map::new();
    for key in keys {
        let (_, schema) = described
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("schema.rs describes no `{key}`: add it beside the check in spec.rs"));
        out.insert((*key).to_owned(), schema.clone());
    }
    assert_eq!(out.len(), described.len(), "schema.rs describes a key spec.rs does not take");
    Json::Object(out)
}
