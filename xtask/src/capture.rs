//! `lab capture`: this machine as a lab spec. It reads, and changes nothing
//! (the readers are `lab doctor`'s): the binfmt_misc entries (interpreter,
//! flags, static or dynamic emulator), Nix's effective configuration
//! (`nix show-config`: sandbox, sandbox paths, extra-platforms), and whether
//! the machine is NixOS (`/etc/NIXOS`). The spec has probes for every foreign
//! system registered or in extra-platforms, all expected to pass: running it
//! shows, isolated, what fails here, and `lab fix` on it finds what to change.
//!
//! The spec models what its format can say; what it cannot (an interpreter at
//! another path, per-entry flags, an unknown platform) is written as a comment
//! above the key it approximates.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::diagnose::sandbox_covers;
use crate::doctor::{self, Checkup, Level};
use crate::flags;
use crate::machine::binfmt::Entry;
use crate::machine::elf::{executable, Executable};
use crate::plan::BINFMT_DIR;
use crate::quote;
use crate::registrations::Tool;
use crate::spec::HostKind;
use crate::systems::NixSystem;

/// What was read from this machine.
#[derive(Debug, Clone)]
pub struct Machine {
    pub host: HostKind,
    pub host_arch: &'static str,
    /// Enabled binfmt_misc entries of a known system.
    pub entries: Vec<Entry>,
    /// Entries left out, with why.
    pub skipped: Vec<String>,
    pub sandbox: bool,
    /// `sandbox = relaxed` (modelled as on).
    pub sandbox_relaxed: bool,
    pub sandbox_paths: Vec<String>,
    pub extra_platforms: Vec<String>,
}

/// Nix's built-in sandbox path for `/bin/sh` (a busybox Nix was built with):
/// every sandbox has it, the lab's Nix adds its own.
fn is_builtin_sandbox_path(path: &str) -> bool {
    path.starts_with("/bin/sh=")
}

impl flags::Capture {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let machine = Machine::read()?;
        if machine.systems().is_empty() {
            anyhow::bail!(
                "nothing to model: binfmt_misc has no entry for a foreign system, and Nix's extra-platforms ({}) names no system crosslab knows\n  help: `cargo xtask lab doctor` shows what this machine has",
                if machine.extra_platforms.is_empty() { "empty".to_owned() } else { machine.extra_platforms.join(" ") }
            );
        }
        let spec = machine.to_spec();
        match &self.out {
            Some(path) => {
                std::fs::write(path, &spec).with_context(|| format!("failed to write `{}`", path.display()))?;
                eprintln!(
                    "crosslab: captured this machine ({}, {}) into {}; `cargo xtask lab run {}` runs it isolated",
                    machine.host.as_str(),
                    report_systems(&machine),
                    path.display(),
                    path.display()
                );
            }
            None => print!("{spec}"),
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn report_systems(machine: &Machine) -> String {
    let systems: Vec<&str> = machine.systems().iter().map(|s| s.double).collect();
    if systems.is_empty() {
        "no foreign system".to_owned()
    } else {
        systems.join(", ")
    }
}

impl Machine {
    /// Reads this machine, as `lab doctor` does. Fails when binfmt_misc or
    /// Nix's configuration cannot be read.
    pub fn read() -> anyhow::Result<Machine> {
        let mut checkup = Checkup::default();
        let all = doctor::binfmt_entries(&mut checkup);
        let nix = doctor::nix_config(&mut checkup);
        if let Some(problem) = checkup.findings.iter().find(|f| f.level == Level::Problem) {
            anyhow::bail!(
                "cannot read this machine: {}{}",
                problem.text,
                problem.fix.as_ref().map(|f| format!("\n  help: {f}")).unwrap_or_default()
            );
        }
        let nix = nix.context("cannot read Nix's configuration")?;
        let host_arch = std::env::consts::ARCH;
        let mut entries = Vec::new();
        let mut skipped = Vec::new();
        for e in all {
            match e.system {
                _ if !e.enabled => skipped.push(format!("`{}` is disabled", e.name)),
                None => skipped.push(format!("`{}` ({}) is not a system crosslab knows", e.name, e.interpreter)),
                Some(s) if s.is_native_on(host_arch, None) => {
                    skipped.push(format!("`{}` is for {}, which runs natively here", e.name, s.double))
                }
                Some(s) if entries.iter().any(|x: &Entry| x.system.is_some_and(|y| y.qemu == s.qemu)) => {
                    skipped.push(format!("`{}` serves {} again", e.name, s.double))
                }
                Some(_) => entries.push(e),
            }
        }
        let sandbox_value = nix.values.get("sandbox").cloned().unwrap_or_default();
        Ok(Machine {
            host: if Path::new("/etc/NIXOS").exists() { HostKind::Nixos } else { HostKind::NonNixos },
            host_arch,
            entries,
            skipped,
            sandbox: nix.sandbox_on(),
            sandbox_relaxed: sandbox_value == "relaxed",
            sandbox_paths: nix.list("sandbox-paths"),
            extra_platforms: nix.list("extra-platforms"),
        })
    }

    /// The systems to probe: registered foreign ones, then those only in
    /// extra-platforms (i686-linux on x86_64 too: Nix builds for it, natively),
    /// each once.
    pub fn systems(&self) -> Vec<&'static NixSystem> {
        let mut systems: Vec<&'static NixSystem> = self.entries.iter().filter_map(|e| e.system).collect();
        for p in &self.extra_platforms {
            if let Some(s) = NixSystem::find(p) {
                if !systems.contains(&s) {
                    systems.push(s);
                }
            }
        }
        systems
    }

    /// The tool that wrote every kept entry byte for byte, when there is one
    /// and it serves every foreign system the lab registers: the lab then
    /// names it and registers the very same entries.
    pub fn tool(&self) -> Option<&'static Tool> {
        let tool = self.entries.first()?.tool?;
        let all_its = self.entries.iter().all(|e| e.tool == Some(tool));
        let serves = self.systems().iter().all(|s| s.is_native_on(self.host_arch, None) || tool.entry_for(s).is_some());
        (all_its && serves && (!tool.is_nixos() || self.host == HostKind::Nixos)).then_some(tool)
    }

    /// The lab spec that models this machine.
    pub fn to_spec(&self) -> String {
        let systems = self.systems();
        let tool = self.tool();
        let nixos_style = self.host == HostKind::Nixos
            && !self.entries.is_empty()
            && self.entries.iter().all(|e| e.interpreter.starts_with("/run/binfmt/"));
        let mut out = String::from(
            "# Captured by `cargo xtask lab capture` from this machine. Run it with\n# `cargo xtask lab run FILE`; `cargo xtask lab fix FILE` finds what to change.\n",
        );
        let registered: Vec<String> = self.entries.iter().map(|e| e.name.clone()).collect();
        out.push_str(&format!(
            "description = {}\n",
            toml_string(&format!(
                "Captured {} machine: binfmt_misc {}; Nix sandbox {}, extra-platforms {}",
                self.host.as_str(),
                if registered.is_empty() {
                    "has no foreign entry".to_owned()
                } else {
                    format!("registers {}", registered.join(", "))
                },
                if self.sandbox { "on" } else { "off" },
                if self.extra_platforms.is_empty() { "empty".to_owned() } else { self.extra_platforms.join(" ") },
            ))
        ));
        out.push_str(&format!("host = \"{}\"\n", self.host.as_str()));
        out.push_str(&format!("systems = [{}]\n", list(systems.iter().map(|s| s.double))));

        out.push_str("\n[binfmt]\n");
        for s in &self.skipped {
            out.push_str(&format!("# not modelled: {s}\n"));
        }
        let flags = self.entries.first().map(|e| spec_flags(&e.flags)).unwrap_or_default();
        if self.entries.is_empty() {
            out.push_str("interpreter = \"none\"\n");
        } else {
            for e in &self.entries {
                let s = e.system.expect("kept entries have a system");
                let kind = match executable(Path::new(&e.interpreter)) {
                    Executable::Elf(None) => "static".to_owned(),
                    Executable::Elf(Some(loader)) => format!("dynamic, loader {loader}"),
                    Executable::Script(program) => format!("a script run by {program}"),
                    Executable::Missing => {
                        "missing from this filesystem (registered with F from elsewhere?)".to_owned()
                    }
                    Executable::Other => "not an executable file".to_owned(),
                };
                let modelled = match tool.and_then(|t| t.entry_for(s)) {
                    Some(own) => own.interpreter,
                    None if nixos_style => format!("/run/binfmt/{}", s.double),
                    None => s.fhs_interpreter(),
                };
                out.push_str(&format!(
                    "# `{}` ({}): interpreter {} ({kind}), flags `{}`{}\n",
                    e.name,
                    s.double,
                    e.interpreter,
                    e.flags,
                    if e.interpreter != modelled { format!("; the lab registers {modelled}") } else { String::new() }
                ));
                if let Some(tool) = registered_by(e, self.host) {
                    out.push_str(&format!(
                        "#   registered by {tool}: change it there (what `lab fix` prints for it)\n"
                    ));
                }
                if spec_flags(&e.flags) != flags {
                    out.push_str(&format!(
                        "#   its flags differ from the first entry's: the lab gives every entry `{flags}`\n"
                    ));
                }
            }
            if let Some(tool) = tool {
                out.push_str(&format!(
                    "# every entry is byte for byte what {} writes: the lab registers the same\n",
                    tool.about
                ));
                out.push_str(&format!("tool = \"{}\"\n", tool.name));
            } else {
                out.push_str(&format!("interpreter = \"{}\"\n", if nixos_style { "nixos" } else { "fhs" }));
                out.push_str(&format!("flags = \"{flags}\"\n"));
            }
        }

        out.push_str("\n[nix]\n");
        if self.sandbox_relaxed {
            out.push_str("# sandbox = relaxed here: modelled as on\n");
        }
        out.push_str(&format!("sandbox = {}\n", self.sandbox));
        let sandbox_paths = self.modelled_sandbox_paths(nixos_style, tool.is_some(), &mut out);
        out.push_str(&format!("extra-sandbox-paths = [{}]\n", list(sandbox_paths.iter().map(String::as_str))));
        let mut platforms = Vec::new();
        for p in &self.extra_platforms {
            if NixSystem::find(p).is_some() {
                platforms.push(p.as_str());
            } else {
                out.push_str(&format!("# extra-platforms has `{p}`, which crosslab does not know: left out\n"));
            }
        }
        out.push_str(&format!("extra-platforms = [{}]\n", list(platforms.iter().copied())));

        // Systems only in extra-platforms: the lab registers every system, this
        // machine does not, so the lab's entry goes before anything runs.
        let unregistered: Vec<&NixSystem> = if self.entries.is_empty() {
            Vec::new()
        } else {
            systems
                .iter()
                .copied()
                .filter(|s| !s.is_native_on(self.host_arch, None))
                .filter(|s| !self.entries.iter().any(|e| e.system.is_some_and(|x| x.qemu == s.qemu)))
                .collect()
        };
        if !unregistered.is_empty() {
            let names: Vec<String> = unregistered
                .iter()
                .map(|s| if nixos_style { s.double.to_owned() } else { format!("qemu-{}", s.qemu) })
                .collect();
            out.push_str(&format!(
                "\n# this machine registers nothing for {}: the lab's entry is removed first\n[[probe]]\nkind = \"command\"\nsystems = [{}]\nrun = {}\n",
                list(unregistered.iter().map(|s| s.double)),
                list(unregistered.iter().map(|s| s.double)),
                toml_string(&names.iter().map(|n| format!("echo -1 > {BINFMT_DIR}/{}", quote::sh(n))).collect::<Vec<_>>().join("\n"))
            ));
        }
        let registered_systems: Vec<&str> =
            systems.iter().filter(|s| !unregistered.contains(s)).map(|s| s.double).collect();
        out.push_str("\n[[probe]]\nkind = \"binfmt\"\n");
        if !unregistered.is_empty() {
            out.push_str(&format!("systems = [{}]\n", list(registered_systems.iter().copied())));
        }
        for kind in ["nix-config", "exec", "build"] {
            out.push_str(&format!("\n[[probe]]\nkind = \"{kind}\"\n"));
        }
        out
    }

    /// The sandbox paths as the lab says them: Nix's built-in ones left out, a
    /// path that shows a registered interpreter replaced by the lab's path for
    /// it (the lab registers its own), NixOS's own paths left to the lab's
    /// simulation.
    fn modelled_sandbox_paths(&self, nixos_style: bool, by_tool: bool, out: &mut String) -> Vec<String> {
        let mut paths: Vec<String> = Vec::new();
        for p in &self.sandbox_paths {
            if is_builtin_sandbox_path(p) {
                continue;
            }
            if nixos_style && (p == "/run/binfmt" || p.starts_with("/nix/store/")) {
                out.push_str(&format!("# sandbox path {p}: NixOS's own, the lab simulates it\n"));
                continue;
            }
            let served = self.entries.iter().find(|e| sandbox_covers(std::slice::from_ref(p), &e.interpreter));
            let modelled = match served {
                // A lab naming the tool registers this very interpreter: the path stays.
                Some(e) if !nixos_style && !by_tool && e.interpreter != e.system.expect("kept").fhs_interpreter() => {
                    let fhs = e.system.expect("kept").fhs_interpreter();
                    out.push_str(&format!("# sandbox path {p} shows `{}`'s interpreter: modelled as {fhs}\n", e.name));
                    fhs
                }
                _ => p.clone(),
            };
            if !paths.contains(&modelled) {
                paths.push(modelled);
            }
        }
        paths
    }
}

/// Which tool registers `entry` at boot, from the files each one keeps: a
/// NixOS module, binfmt-support's database, a systemd-binfmt file; an
/// interpreter absent from this filesystem but registered with F came from
/// a container (Docker's installers).
fn registered_by(entry: &Entry, host: HostKind) -> Option<String> {
    if host == HostKind::Nixos && entry.interpreter.starts_with("/run/binfmt/") {
        return Some("NixOS's boot.binfmt (configuration.nix)".to_owned());
    }
    if let Some(tool) = crate::machine::binfmt::registering_tool(&entry.name) {
        return Some(tool);
    }
    if entry.flags.contains('F') && !Path::new(&entry.interpreter).exists() {
        return Some("a container with F (Docker's tonistiigi/binfmt or multiarch/qemu-user-static)".to_owned());
    }
    None
}

/// Kernel flags as the spec writes them (`POCF` order; the kernel shows `O`
/// for `C` too, which the spec implies).
fn spec_flags(kernel: &str) -> String {
    let flags: String = "POCF".chars().filter(|c| kernel.contains(*c)).collect();
    if flags.contains('C') {
        flags.replace('O', "")
    } else {
        flags
    }
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.map(toml_string).collect::<Vec<_>>().join(", ")
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::Machine;
    use crate::machine::binfmt::Entry;
    use crate::spec::{self, HostKind, Interpreter};
    use crate::systems::NixSystem;

    fn entry(name: &str, system: &str, interpreter: &str, flags: &str) -> Entry {
        Entry {
            name: name.to_owned(),
            enabled: true,
            interpreter: interpreter.to_owned(),
            flags: flags.to_owned(),
            system: NixSystem::find(system),
            tool: None,
        }
    }

    fn machine(entries: Vec<Entry>, sandbox_paths: &[&str], platforms: &[&str]) -> Machine {
        Machine {
            host: HostKind::NonNixos,
            host_arch: "x86_64",
            entries,
            skipped: vec!["`python3.11` (/usr/bin/python3.11) is not a system crosslab knows".to_owned()],
            sandbox: true,
            sandbox_relaxed: false,
            sandbox_paths: sandbox_paths.iter().map(|s| s.to_string()).collect(),
            extra_platforms: platforms.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn parse(text: &str) -> spec::Lab {
        spec::parse("captured", std::path::Path::new("captured.toml"), text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn debian_13_s_entry_is_modelled_as_fhs_with_its_flags_and_sandbox_path() {
        let m = machine(
            vec![entry("qemu-aarch64", "aarch64-linux", "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", "POF")],
            &["/bin/sh=/usr/lib/nix/busybox", "/usr/libexec/qemu-binfmt"],
            &["i686-linux", "aarch64-linux", "x86_64-v3-linux"],
        );
        let text = m.to_spec();
        let lab = parse(&text);
        assert_eq!(lab.binfmt.interpreter, Interpreter::Fhs);
        assert_eq!(lab.binfmt.flags, "POF");
        // Nix's own /bin/sh left out; the path that showed the real interpreter shows the lab's.
        assert_eq!(lab.nix.extra_sandbox_paths, ["/usr/bin/qemu-aarch64-static"], "{text}");
        assert_eq!(lab.nix.extra_platforms, ["i686-linux", "aarch64-linux"], "{text}");
        let systems: Vec<&str> = lab.systems.iter().map(|s| s.double).collect();
        assert_eq!(systems, ["aarch64-linux", "i686-linux"]);
        assert!(
            text.contains("# `qemu-aarch64` (aarch64-linux): interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P"),
            "{text}"
        );
        assert!(text.contains("`x86_64-v3-linux`, which crosslab does not know"), "{text}");
        assert!(text.contains("# not modelled: `python3.11`"), "{text}");
    }

    #[test]
    fn a_system_only_in_extra_platforms_loses_the_lab_s_entry_first() {
        let m = machine(
            vec![entry("qemu-aarch64", "aarch64-linux", "/usr/bin/qemu-aarch64-static", "P")],
            &[],
            &["aarch64-linux", "riscv64-linux"],
        );
        let text = m.to_spec();
        let lab = parse(&text);
        let first = &lab.probes[0];
        assert_eq!(first.kind, spec::ProbeKind::Command);
        assert_eq!(first.run.as_deref(), Some("echo -1 > /proc/sys/fs/binfmt_misc/qemu-riscv64"));
        assert_eq!(first.systems.as_ref().map(|s| s[0].double), Some("riscv64-linux"));
        // The binfmt probe checks only the entry this machine has.
        let binfmt = lab.probes.iter().find(|p| p.kind == spec::ProbeKind::Binfmt).unwrap();
        assert_eq!(
            binfmt.systems.as_ref().map(|s| s.iter().map(|s| s.double).collect::<Vec<_>>()),
            Some(vec!["aarch64-linux"])
        );
    }

    #[test]
    fn nothing_registered_is_interpreter_none() {
        let lab = parse(&machine(Vec::new(), &[], &["aarch64-linux"]).to_spec());
        assert_eq!(lab.binfmt.interpreter, Interpreter::None);
        assert_eq!(lab.systems[0].double, "aarch64-linux");
    }
}
