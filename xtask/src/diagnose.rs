//! Diagnoses: why a probe did not end as its lab expected, told from the
//! evidence the run collected (the plan's registrations and Nix settings, the
//! probe's exit status and output) together with the fix.
//!
//! Each cause is one rule below. A rule names a cause only when the evidence
//! for it is all there; anything else gets no diagnosis rather than a guess.

use crate::plan::{Plan, Probe};
use crate::report::Verdict;
use crate::spec::ProbeKind;
use crate::systems::{NixSystem, SYSTEMS};

/// The causes crosslab can tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A sandboxed build cannot see the emulator: no `F` flag, and the
    /// interpreter path is not in `extra-sandbox-paths`.
    InterpreterOutsideSandbox,
    /// "Exec format error": binfmt_misc has no entry for the system.
    NothingRegistered,
    /// Nix refuses to build for a system it does not list in extra-platforms.
    PlatformNotAllowed,
    /// `uname -m` printed another machine than the system's.
    WrongMachine,
    /// The emulated CPU lacks an instruction the binary uses.
    IllegalInstruction,
    /// The probe ran out of time.
    TimedOut,
    /// A sandbox path Nix was told to mount does not exist.
    MissingSandboxPath,
    /// A dynamically linked tool of the target cannot find its program
    /// interpreter (`/lib/ld-linux-….so`): the sandbox holds only store paths.
    TargetLoaderMissing,
    /// The host's own assembler or linker got the target's code: gcc found
    /// `as`/`ld` on PATH, and PATH led to the host's.
    HostToolPickedUp,
    /// The backend gave the `compile` probe no toolchain for the system.
    NoToolchain,
}

/// Why a probe's outcome was not the expected one, and what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub cause: Cause,
    /// A few words, for the matrix's note column.
    pub summary: String,
    /// What happened, from the evidence.
    pub detail: String,
    /// What to change so that it works.
    pub fix: String,
}

/// The diagnosis of a verdict that is not as expected; `None` when it is, or
/// when the evidence points at no known cause.
pub fn diagnose(plan: &Plan, verdict: &Verdict) -> Option<Diagnosis> {
    if verdict.as_expected {
        return None;
    }
    let probe = &verdict.probe;
    let output = verdict.execution.output.as_str();
    let system = probe.system;

    if verdict.execution.timed_out {
        return Some(Diagnosis {
            cause: Cause::TimedOut,
            summary: format!("timed out after {} s", probe.timeout.as_secs()),
            detail: format!(
                "`{}` was still running after {} s and was killed with everything it started",
                probe.id(),
                probe.timeout.as_secs()
            ),
            fix: "raise the probe's `timeout` if the work is slow under emulation (compiling can take minutes), else look for what hangs in the output".to_owned(),
        });
    }

    if output.contains("Illegal instruction") {
        let cpu = emulated_cpu(plan, probe).unwrap_or("qemu's default CPU");
        let payload = probe.payload;
        let (detail, fix) = if payload != system {
            (
                format!(
                    "the {} binary uses an instruction the emulated CPU ({cpu}, a {} CPU) does not have",
                    payload.double, system.double
                ),
                format!(
                    "run it on a {} CPU ({}), or build it for {}",
                    payload.double,
                    payload.qemu_cpu.map_or("qemu's default CPU".to_owned(), |c| format!("QEMU_CPU={c}")),
                    system.double
                ),
            )
        } else {
            (
                format!("the binary needs a newer CPU than the emulated {cpu}: it uses an instruction {cpu} does not have"),
                format!("build the binary for {cpu}'s instruction set (e.g. GOARM, -march), or emulate a newer CPU if {} hardware that old is not a target", system.double),
            )
        };
        return Some(Diagnosis {
            cause: Cause::IllegalInstruction,
            summary: format!("illegal instruction on {cpu}"),
            detail,
            fix,
        });
    }

    if output.contains(&format!("a '{}' with features", system.double)) && output.contains("is required") {
        return Some(Diagnosis {
            cause: Cause::PlatformNotAllowed,
            summary: format!("Nix refuses {}: not in extra-platforms", system.double),
            detail: format!(
                "Nix builds only for its own system and extra-platforms ({}), so it refused the {} derivation",
                list_or_none(&plan.nix_conf.extra_platforms),
                system.double
            ),
            fix: format!(
                "add `extra-platforms = [\"{}\"]` to the lab's [nix] table (nix.conf: `extra-platforms = {}`)",
                system.double, system.double
            ),
        });
    }

    if let Some(path) = missing_sandbox_path(output) {
        if plan.nix_conf.sandbox {
            return Some(Diagnosis {
                cause: Cause::MissingSandboxPath,
                summary: format!("sandbox path {path} does not exist"),
                detail: format!("Nix was told to mount {path} into the build sandbox (extra-sandbox-paths), but it does not exist, so Nix refused to build"),
                fix: format!("create {path} before building, or mark the path optional: `extra-sandbox-paths = [\"{path}?\"]`"),
            });
        }
    }

    let native = system.native_on.contains(&plan.host_arch);
    if output.contains("Exec format error") && !native && plan.registration_for(system).is_none() {
        return Some(Diagnosis {
            cause: Cause::NothingRegistered,
            summary: format!("nothing registered for {}", system.double),
            detail: format!(
                "the kernel could not execute a {} binary (\"Exec format error\"): nothing is registered for {} in binfmt_misc",
                system.double, system.double
            ),
            fix: format!(
                "register an emulator: `interpreter = \"fhs\"` in the lab's [binfmt] table (qemu-user-static's {}), or boot.binfmt.emulatedSystems = [ \"{}\" ] on NixOS",
                system.fhs_interpreter(),
                system.double
            ),
        });
    }

    if let Some(loader) = missing_loader(output) {
        return Some(Diagnosis {
            cause: Cause::TargetLoaderMissing,
            summary: format!("target loader {loader} not in the sandbox"),
            detail: format!(
                "a dynamically linked {} program asks for its loader {loader}, which the build cannot see: the sandbox holds only store paths (qemu's QEMU_LD_PREFIX would find the loader, but not the tools gcc runs through PATH)",
                system.double
            ),
            fix: "use a toolchain whose programs load from its store path (patchelf --set-interpreter and --set-rpath, as nixpkgs' autoPatchelfHook does, or a toolchain built by Nix), or bind the target's root into the sandbox with extra-sandbox-paths".to_owned(),
        });
    }

    if host_tool_on_target_code(output) {
        return Some(Diagnosis {
            cause: Cause::HostToolPickedUp,
            summary: "a host assembler or linker got the target's code".to_owned(),
            detail: format!(
                "gcc runs `as` and `ld` through PATH, and found the host's, which cannot assemble or link {} code (QEMU_LD_PREFIX redirects the loader and gcc's own files, not programs found through PATH)",
                system.double
            ),
            fix: "put the target's binutils first on PATH in the build (or pass gcc `-B <dir of the target's as and ld>`); a Nix toolchain's cc wrapper does this".to_owned(),
        });
    }

    if probe.kind == ProbeKind::Compile && output.contains(&format!("no {} toolchain:", system.double)) {
        return Some(Diagnosis {
            cause: Cause::NoToolchain,
            summary: format!("no {} toolchain on this backend", system.double),
            detail: format!("the backend linked no toolchain at $CROSSLAB_TOOLCHAINS/{}", system.double),
            fix: "run the lab on the host backend (it makes Debian's toolchain a store path), or as a rendered NixOS check".to_owned(),
        });
    }

    if matches!(probe.kind, ProbeKind::Build | ProbeKind::Compile)
        && output.contains("No such file or directory")
        && plan.nix_conf.sandbox
    {
        if let Some(reg) = plan.registration_for(system) {
            if !reg.flags.contains('F') && !sandbox_covers(&plan.nix_conf.extra_sandbox_paths, &reg.interpreter) {
                return Some(Diagnosis {
                    cause: Cause::InterpreterOutsideSandbox,
                    summary: format!("sandbox cannot see {}", reg.interpreter),
                    detail: format!(
                        "the binfmt_misc entry `{}` names {} without the F flag, so the kernel opens it inside the build's sandbox, where it does not exist; Nix's sandbox is on and {} is not in extra-sandbox-paths",
                        reg.name, reg.interpreter, reg.interpreter
                    ),
                    fix: format!(
                        "add `extra-sandbox-paths = [\"{}\"]` to the lab's [nix] table, or register with F (`flags = \"{}F\"`)",
                        reg.interpreter,
                        reg.flags.replace('F', "")
                    ),
                });
            }
        }
    }

    if let Some(wanted) = &probe.expect.line {
        if verdict.passed && matches!(probe.kind, ProbeKind::Exec | ProbeKind::Build) {
            let got = output.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("nothing");
            return Some(wrong_machine(plan, probe, wanted, got));
        }
    }
    None
}

/// The loader named by qemu-user's "Could not open '/lib/ld-….so.1': No such
/// file or directory" (a target program whose interpreter is not there).
fn missing_loader(output: &str) -> Option<&str> {
    output.lines().find_map(|l| {
        let rest = l.split_once("Could not open '")?.1;
        let (path, after) = rest.split_once('\'')?;
        (after.contains("No such file or directory") && path.rsplit('/').next()?.starts_with("ld")).then_some(path)
    })
}

/// What the host's binutils say when given another architecture's code or
/// options: `as` on gcc's target options (measured: aarch64 gcc passes `-EL`,
/// x86_64's `as` says "unrecognized option '-EL'") or assembly, `ld` on objects.
fn host_tool_on_target_code(output: &str) -> bool {
    output.lines().any(|l| l.starts_with("as: unrecognized option") || l.starts_with("ld: unrecognised emulation"))
        || (output.contains("Assembler messages:")
            && (output.contains("no such instruction") || output.contains("no such architecture")))
        || output.contains("Relocations in generic ELF")
        || (output.contains("error adding symbols") && output.contains("file in wrong format"))
}

/// `uname -m` said `got` where `wanted` was expected.
fn wrong_machine(plan: &Plan, probe: &Probe, wanted: &str, got: &str) -> Diagnosis {
    let system = probe.system;
    let whose: Vec<&str> = SYSTEMS.iter().filter(|s| s.uname == got).map(|s| s.double).collect();
    let whose = if whose.is_empty() { String::new() } else { format!(" (what {} prints)", whose.join(" and ")) };
    if system.native_on.contains(&plan.host_arch) {
        let fix = match system.personality {
            Some(p) => format!("run it under `setarch {p}`, as Nix does for {} builds", system.double),
            None => format!("nothing to emulate: {} binaries run natively on {}", system.double, plan.host_arch),
        };
        return Diagnosis {
            cause: Cause::WrongMachine,
            summary: format!("`uname -m` = {got}, not {wanted}"),
            detail: format!(
                "the {} binary ran natively on {} and the kernel said {got}{whose}, not {wanted}",
                probe.payload.double, plan.host_arch
            ),
            fix,
        };
    }
    let cpu = emulated_cpu(plan, probe);
    let emulated = cpu.map_or("qemu's default CPU".to_owned(), |c| format!("the CPU model {c}"));
    let fix = match system.qemu_cpu {
        Some(right) if cpu != Some(right) => {
            format!(
                "emulate {right}, the model that prints {}: QEMU_CPU={right} (remove or change the probe's `qemu-cpu`)",
                system.uname
            )
        }
        None if cpu.is_some() => {
            format!("let qemu use its default CPU, which prints {}: remove the probe's `qemu-cpu`", system.uname)
        }
        _ => format!(
            "check which qemu-{} binfmt_misc runs: qemu's default CPU should print {}",
            system.qemu, system.uname
        ),
    };
    Diagnosis {
        cause: Cause::WrongMachine,
        summary: format!("`uname -m` = {got} under {}, not {wanted}", cpu.unwrap_or("qemu's default CPU")),
        detail: format!(
            "qemu-{} emulated {emulated}, which `uname -m` reports as {got}{whose}; {} is {wanted}",
            system.qemu, system.double
        ),
        fix,
    }
}

/// The qemu CPU model a probe's command pins, as the plan chose it.
pub fn emulated_cpu<'p>(plan: &'p Plan, probe: &Probe) -> Option<&'p str> {
    if probe.system.native_on.contains(&plan.host_arch) {
        return None;
    }
    let spec = plan.lab.probes.get(probe.index)?;
    match probe.kind {
        ProbeKind::Command => spec.qemu_cpu.as_deref(),
        _ => spec.qemu_cpu.as_deref().or(probe.system.qemu_cpu),
    }
}

/// Whether a build sandbox with these `sandbox-paths` entries (`path`,
/// `target=source`, optional trailing `?`) shows `path` at its own place.
pub fn sandbox_covers(sandbox_paths: &[String], path: &str) -> bool {
    sandbox_paths.iter().any(|entry| {
        let entry = entry.trim_end_matches('?');
        let inside = entry.split_once('=').map_or(entry, |(target, _)| target);
        let inside = inside.trim_end_matches('/');
        !inside.is_empty() && (path == inside || path.starts_with(&format!("{inside}/")))
    })
}

/// The path of Nix's "getting attributes of path '…': No such file or directory".
fn missing_sandbox_path(output: &str) -> Option<&str> {
    let line = output
        .lines()
        .find(|l| l.contains("getting attributes of path '") && l.contains("No such file or directory"))?;
    let start = line.find("path '")? + "path '".len();
    let len = line[start..].find('\'')?;
    Some(&line[start..start + len])
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// The system whose binfmt_misc magic matches `magic`/`mask` given as the
/// hex strings the kernel shows in an entry's status file.
pub fn system_of_entry(magic_hex: &str, mask_hex: &str) -> Option<&'static NixSystem> {
    let hex = |b: Vec<u8>| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    SYSTEMS
        .iter()
        .find(|s| hex(s.magic_bytes()) == magic_hex && (mask_hex.is_empty() || hex(s.mask_bytes()) == mask_hex))
}

#[cfg(test)]
mod tests {
    use super::sandbox_covers;

    #[test]
    fn sandbox_paths_cover_their_own_tree_only() {
        let paths = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(sandbox_covers(&paths(&["/run/binfmt"]), "/run/binfmt/aarch64-linux"));
        assert!(sandbox_covers(&paths(&["/usr/bin/qemu-aarch64-static?"]), "/usr/bin/qemu-aarch64-static"));
        assert!(sandbox_covers(&paths(&["/usr/bin=/nix/store/x-qemu/bin"]), "/usr/bin/qemu-aarch64-static"));
        assert!(!sandbox_covers(&paths(&["/run/bin"]), "/run/binfmt/aarch64-linux"));
        assert!(!sandbox_covers(&paths(&["/x=/usr/bin"]), "/usr/bin/qemu-aarch64-static"));
        assert!(!sandbox_covers(&paths(&[]), "/usr/bin/qemu-aarch64-static"));
    }
}
