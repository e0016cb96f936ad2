//! Diagnoses: why a probe did not end as its lab expected, told from the
//! evidence the run collected (the plan's registrations and Nix settings, the
//! probe's exit status and output) together with the fix.
//!
//! Each cause is one rule below. A rule names a cause only when the evidence
//! for it is all there; anything else gets no diagnosis rather than a guess.
//! Rules that read any command's output come first — Nix's and qemu's own
//! words, for every probe kind including `command` — and reason about the
//! system of the program that ran ([`runs_as`]: a probe's payload may be
//! another system's), not only the probe's; then each probe kind has its own
//! rules over what its command prints ([`by_kind`]). A change the lab already
//! has is never proposed ([`SpecChange::is_in`]).
//!
//! A diagnosis carries its fix twice: as [`SpecChange`]s, edits to the lab
//! spec that `lab fix` applies and proves by running the changed lab, and as
//! what to change on a real machine of the lab's host kind
//! ([`SpecChange::machine_steps`]).

use crate::outcome::Verdict;
use crate::plan::{Plan, Probe, Registration, BINFMT_DIR};
use crate::spec::{HostKind, Interpreter, ProbeKind};
use crate::systems::{NixSystem, SYSTEMS};

/// The causes crosslab can tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A sandboxed build cannot see the emulator: no `F` flag, and the
    /// interpreter path is not in `extra-sandbox-paths`.
    InterpreterOutsideSandbox,
    /// "Exec format error": binfmt_misc has no entry for the system.
    NothingRegistered,
    /// "Exec format error" although the lab registers the system: an earlier
    /// `command` probe of the lab removed or disabled the entry (as a
    /// captured machine that registers nothing for the system does).
    EntryRemovedByLab,
    /// Nix refuses to build for a system it does not list in extra-platforms.
    PlatformNotAllowed,
    /// `uname -m` printed another machine than the system's.
    WrongMachine,
    /// The emulated CPU lacks an instruction the binary uses.
    IllegalInstruction,
    /// The probe ran out of time.
    TimedOut,
    /// The probe never ran: the backend has no result for it.
    NoResult,
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
    /// The binfmt_misc entry the lab registered is not there any more.
    EntryMissing,
    /// The binfmt_misc entry exists but is disabled.
    EntryDisabled,
    /// The binfmt_misc entry's interpreter or flags are not the lab's.
    EntryDiffers,
    /// An entry is registered where the lab expects none.
    UnexpectedEntry,
    /// `nix show-config` lacks a setting the lab configures.
    NixSettingMissing,
    /// Nix refused its configuration (`nix show-config` failed).
    NixConfigRejected,
    /// A program of another system (the probe's payload) ran through an
    /// emulator binfmt_misc has for it, inside a build for the probe's own
    /// system: the build's result depends on the host's registrations.
    ForeignProgramEmulated,
    /// The build's system is in Nix's platforms, but Nix lacks a system
    /// feature the derivation requires (`requiredSystemFeatures`).
    SystemFeatureMissing,
    /// The interpreter is in `extra-sandbox-paths`, but it is a symlink
    /// (Debian 13's `/usr/bin/qemu-<arch>-static` → `qemu-<arch>`) and Nix
    /// binds a listed symlink as the link alone: its target is not there.
    InterpreterLinkOnly,
    /// Nix's daemon ignored a setting the client passed: a restricted
    /// setting, and the user is not in `trusted-users`.
    RestrictedSetting,
    /// Nix could not set up the build's namespaces: the kernel refuses a new
    /// `/proc` where the one it would replace is not fully visible.
    SandboxNamespaces,
    /// Nix could not load its seccomp filter (the kernel, or an emulator
    /// Nix itself runs under, refuses it).
    SeccompRefused,
    /// The kernel refused the 32-bit personality Nix sets for ARMv7/ARMv6
    /// and i686 builds: an aarch64 CPU without AArch32.
    NoPersonality32,
}

impl Cause {
    /// How much a note naming this cause tells a reader, higher is more:
    /// a setup cause with a fix beats a symptom (a wrong `uname -m`), which
    /// beats a timeout. `lab matrix` names the surprise with the highest.
    pub fn informativeness(self) -> u8 {
        match self {
            Cause::InterpreterOutsideSandbox
            | Cause::PlatformNotAllowed
            | Cause::NothingRegistered
            | Cause::EntryRemovedByLab
            | Cause::MissingSandboxPath
            | Cause::NixConfigRejected => 5,
            Cause::EntryMissing | Cause::EntryDisabled | Cause::EntryDiffers | Cause::UnexpectedEntry => 4,
            Cause::NixSettingMissing | Cause::NoToolchain => 4,
            Cause::TargetLoaderMissing | Cause::HostToolPickedUp => 5,
            Cause::IllegalInstruction | Cause::WrongMachine => 3,
            Cause::TimedOut | Cause::NoResult => 1,
            Cause::ForeignProgramEmulated
            | Cause::SystemFeatureMissing
            | Cause::InterpreterLinkOnly
            | Cause::RestrictedSetting
            | Cause::SandboxNamespaces
            | Cause::SeccompRefused
            | Cause::NoPersonality32 => 5,
        }
    }
}

/// An edit to a lab spec that removes a cause. `lab fix` applies these and
/// proves them by running the changed lab; [`SpecChange::machine_steps`] says
/// what the same change is on a real machine.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpecChange {
    /// Add paths to `[nix] extra-sandbox-paths`.
    AddSandboxPaths(Vec<String>),
    /// Mark a path of `[nix] extra-sandbox-paths` optional (`path?`).
    MakeSandboxPathOptional(String),
    /// Add a kernel flag to `[binfmt] flags` (`F`: the kernel opens the
    /// interpreter when it is registered, so it works in any mount namespace).
    AddFlag(char),
    /// Add a system to `[nix] extra-platforms`.
    AddPlatform(&'static str),
    /// `[nix] sandbox = false`: builds see the host's files (impure).
    SandboxOff,
    /// Register qemu for the lab's systems (`[binfmt] interpreter` = `fhs`,
    /// or `nixos` on a NixOS lab) instead of nothing.
    RegisterEmulator,
    /// Set (or with `None` remove) a probe's `qemu-cpu`.
    SetQemuCpu { probe: usize, cpu: Option<&'static str> },
    /// Run the system's own binary instead of another system's (remove the
    /// probe's `payload`): on the machine, build the program for `system`.
    RemovePayload { probe: usize, system: &'static str },
    /// Remove a `command` probe that unregisters the lab's entry for
    /// `system`: on the machine, register an emulator for it.
    RemoveProbe { probe: usize, system: &'static str },
    /// Remove a path from `[nix] extra-sandbox-paths`.
    RemoveSandboxPath(String),
    /// Add system features to Nix's `system-features` (nix.conf). Not a
    /// spec key yet: `lab fix` reports it as not run until `[nix]
    /// system-features` exists.
    AddSystemFeatures(Vec<String>),
    /// `filter-syscalls = false` in nix.conf: Nix loads no seccomp filter.
    /// Not a spec key yet.
    FilterSyscallsOff,
}

impl SpecChange {
    /// The change in the lab spec's words.
    pub fn describe(&self) -> String {
        match self {
            SpecChange::AddSandboxPaths(p) => format!("add `{}` to [nix] extra-sandbox-paths", p.join("`, `")),
            SpecChange::MakeSandboxPathOptional(p) => format!("write `{p}?` for `{p}` in [nix] extra-sandbox-paths"),
            SpecChange::AddFlag(f) => format!("add `{f}` to [binfmt] flags"),
            SpecChange::AddPlatform(s) => format!("add `{s}` to [nix] extra-platforms"),
            SpecChange::SandboxOff => "set `sandbox = false` in [nix] (builds become impure)".to_owned(),
            SpecChange::RegisterEmulator => {
                "register qemu: `interpreter = \"fhs\"` in [binfmt] (`nixos` on a NixOS lab)".to_owned()
            }
            SpecChange::SetQemuCpu { probe, cpu: Some(cpu) } => format!("set `qemu-cpu = \"{cpu}\"` in probe[{probe}]"),
            SpecChange::SetQemuCpu { probe, cpu: None } => format!("remove `qemu-cpu` from probe[{probe}]"),
            SpecChange::RemovePayload { probe, system } => {
                format!("remove `payload` from probe[{probe}]: run {system}'s own binary")
            }
            SpecChange::RemoveProbe { probe, system } => {
                format!("remove probe[{probe}], which removes the lab's binfmt_misc entry for {system}")
            }
            SpecChange::RemoveSandboxPath(p) => format!("remove `{p}` from [nix] extra-sandbox-paths"),
            SpecChange::AddSystemFeatures(f) => format!("add `{}` to [nix] system-features", f.join("`, `")),
            SpecChange::FilterSyscallsOff => {
                "set `filter-syscalls = false` in [nix] (Nix loads no seccomp filter: builds may create setuid files)"
                    .to_owned()
            }
        }
    }

    /// Whether the lab already has this change: a diagnosis never proposes it.
    pub fn is_in(&self, plan: &Plan) -> bool {
        let lab = plan.lab;
        let spec = |probe: &usize| lab.probes.get(*probe);
        match self {
            SpecChange::AddSandboxPaths(paths) => paths.iter().all(|p| {
                let p = p.trim_end_matches('?');
                plan.nix_conf.extra_sandbox_paths.iter().any(|e| e.trim_end_matches('?') == p)
            }),
            SpecChange::MakeSandboxPathOptional(p) => !lab.nix.extra_sandbox_paths.contains(p),
            SpecChange::RemoveSandboxPath(p) => {
                !lab.nix.extra_sandbox_paths.iter().any(|e| e.trim_end_matches('?') == p)
            }
            SpecChange::AddFlag(f) => lab.binfmt.flags.contains(*f),
            SpecChange::AddPlatform(s) => plan.nix_conf.extra_platforms.iter().any(|p| p == s),
            SpecChange::SandboxOff => !plan.nix_conf.sandbox,
            SpecChange::RegisterEmulator => lab.binfmt.interpreter != Interpreter::None,
            SpecChange::SetQemuCpu { probe, cpu } => spec(probe).is_some_and(|p| p.qemu_cpu.as_deref() == *cpu),
            SpecChange::RemovePayload { probe, .. } => spec(probe).is_none_or(|p| p.payload.is_none()),
            SpecChange::RemoveProbe { probe, .. } => spec(probe).is_none(),
            // Not spec keys yet: nothing in a lab can hold them.
            SpecChange::AddSystemFeatures(_) | SpecChange::FilterSyscallsOff => false,
        }
    }

    /// What to change on a real machine of the lab's host kind for the same
    /// effect: nix.conf lines and the daemon restart, the binfmt_misc entry
    /// through the tool that registered it, or the NixOS options.
    /// `registered_by` is evidence from the machine the report is read on:
    /// which tool registers a binfmt_misc entry of that name there
    /// ([`crate::machine::binfmt::registering_tool`]), so the steps can name it.
    pub fn machine_steps(&self, plan: &Plan, registered_by: &RegisteredBy) -> Vec<String> {
        match plan.lab.host {
            HostKind::Nixos => self.nixos_steps(plan),
            HostKind::NonNixos => self.non_nixos_steps(plan, registered_by),
        }
    }

    fn non_nixos_steps(&self, plan: &Plan, registered_by: &RegisteredBy) -> Vec<String> {
        const RESTART: &str = "then restart the daemon: `sudo systemctl restart nix-daemon` (without a daemon, the next nix command reads it)";
        let nix_conf = |line: String| vec![format!("add to /etc/nix/nix.conf: `{line}`"), RESTART.to_owned()];
        match self {
            SpecChange::AddSandboxPaths(p) => nix_conf(format!("extra-sandbox-paths = {}", p.join(" "))),
            SpecChange::MakeSandboxPathOptional(p) => vec![
                format!("in /etc/nix/nix.conf, write `{p}?` instead of `{p}` in extra-sandbox-paths"),
                RESTART.to_owned(),
            ],
            SpecChange::AddPlatform(s) => nix_conf(format!("extra-platforms = {s}")),
            SpecChange::SandboxOff => {
                vec![
                    "set in /etc/nix/nix.conf: `sandbox = false` (builds see the whole machine)".to_owned(),
                    RESTART.to_owned(),
                ]
            }
            SpecChange::AddFlag(flag) => {
                plan.registrations.iter().flat_map(|r| reregister_steps(r, *flag, registered_by)).collect()
            }
            SpecChange::RegisterEmulator | SpecChange::RemoveProbe { .. } => {
                let platforms: Vec<&str> = self.systems(plan).iter().map(|s| s.oci_platform).collect();
                vec![
                    "Debian/Ubuntu: `sudo apt-get install qemu-user-static binfmt-support` (it registers every qemu-*-static with binfmt_misc, with F on current releases)".to_owned(),
                    format!("or with Docker: `docker run --privileged --rm tonistiigi/binfmt --install {}` (flags CF)", platforms.join(",")),
                ]
            }
            SpecChange::SetQemuCpu { cpu: Some(cpu), .. } => {
                vec![format!("run emulated programs with `QEMU_CPU={cpu}` in their environment")]
            }
            SpecChange::SetQemuCpu { cpu: None, .. } => vec!["unset QEMU_CPU where the program runs".to_owned()],
            SpecChange::RemovePayload { system, .. } => vec![format!(
                "build the program for {system}'s instruction set (e.g. GOARM, -march), not a newer CPU's, or run it through an emulator the build names itself"
            )],
            SpecChange::RemoveSandboxPath(p) => vec![
                format!("in /etc/nix/nix.conf, remove `{p}` from extra-sandbox-paths (or write `{p}?`)"),
                RESTART.to_owned(),
            ],
            // `extra-` adds to Nix's defaults; `system-features =` would replace them.
            SpecChange::AddSystemFeatures(f) => nix_conf(format!("extra-system-features = {}", f.join(" "))),
            SpecChange::FilterSyscallsOff => nix_conf("filter-syscalls = false".to_owned()),
        }
    }

    fn nixos_steps(&self, plan: &Plan) -> Vec<String> {
        const REBUILD: &str = "then `sudo nixos-rebuild switch`";
        let option = |text: String| vec![format!("in configuration.nix: `{text}`"), REBUILD.to_owned()];
        let systems = || self.systems(plan).iter().map(|s| format!("\"{}\"", s.double)).collect::<Vec<_>>().join(" ");
        match self {
            SpecChange::AddSandboxPaths(p) => option(format!(
                "nix.settings.extra-sandbox-paths = [ {} ];",
                p.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(" ")
            )),
            SpecChange::MakeSandboxPathOptional(p) => {
                option(format!("nix.settings.extra-sandbox-paths = [ \"{p}?\" ];"))
            }
            SpecChange::AddPlatform(s) => option(format!("nix.settings.extra-platforms = [ \"{s}\" ];")),
            SpecChange::SandboxOff => option("nix.settings.sandbox = false;".to_owned()),
            SpecChange::AddFlag('F') if plan.lab.binfmt.interpreter == Interpreter::Nixos => {
                option("boot.binfmt.preferStaticEmulators = true; (static qemu, registered with F)".to_owned())
            }
            SpecChange::AddFlag(flag) => {
                let option_name = match flag {
                    'F' => "fixBinary",
                    'P' => "preserveArgvZero",
                    'O' => "openBinary",
                    _ => "matchCredentials",
                };
                let mut steps: Vec<String> = plan
                    .registrations
                    .iter()
                    .map(|r| {
                        format!(
                            "in configuration.nix: `boot.binfmt.registrations.\"{}\".{option_name} = true;`",
                            r.name
                        )
                    })
                    .collect();
                steps.push(REBUILD.to_owned());
                steps
            }
            SpecChange::RegisterEmulator | SpecChange::RemoveProbe { .. } => {
                option(format!("boot.binfmt.emulatedSystems = [ {} ];", systems()))
            }
            SpecChange::RemoveSandboxPath(p) => {
                vec![
                    format!("in configuration.nix, remove `\"{p}\"` from nix.settings.extra-sandbox-paths"),
                    REBUILD.to_owned(),
                ]
            }
            SpecChange::AddSystemFeatures(f) => option(format!(
                "nix.settings.extra-system-features = [ {} ];",
                f.iter().map(|f| format!("\"{f}\"")).collect::<Vec<_>>().join(" ")
            )),
            SpecChange::FilterSyscallsOff => option("nix.settings.filter-syscalls = false;".to_owned()),
            SpecChange::SetQemuCpu { .. } | SpecChange::RemovePayload { .. } => self.non_nixos_steps(plan, &|_| None),
        }
    }
}

/// For Debian's `/usr/bin/qemu-<arch>-static`, the file it links to from
/// Debian 13 on, as an optional sandbox path (`?`: absent on Debian 12).
fn real_emulator(reg: &Registration) -> Option<String> {
    (reg.interpreter == reg.system.fhs_interpreter()).then(|| format!("/usr/bin/qemu-{}?", reg.system.qemu))
}

impl SpecChange {
    /// The systems a registering change is about: one for [`SpecChange::RemoveProbe`], else the lab's foreign ones.
    fn systems(&self, plan: &Plan) -> Vec<&'static NixSystem> {
        match self {
            SpecChange::RemoveProbe { system, .. } => NixSystem::find(system).into_iter().collect(),
            _ => foreign_systems(plan),
        }
    }
}

/// The lab's systems this machine does not run natively.
fn foreign_systems(plan: &Plan) -> Vec<&'static NixSystem> {
    plan.lab.systems.iter().copied().filter(|s| !s.is_native_on(plan.host_arch, plan.host_cpu)).collect()
}

/// How to give a Debian/Ubuntu-style entry `flag`, through each tool that
/// may have registered it: binfmt-support, systemd-binfmt (`/etc/binfmt.d`
/// overrides the package's `/usr/lib/binfmt.d` file of the same name), or
/// tonistiigi/binfmt (which always registers with `CF`).
fn reregister_steps(reg: &Registration, flag: char, registered_by: &RegisteredBy) -> Vec<String> {
    let mut flags = reg.flags.clone();
    if !flags.contains(flag) {
        flags.push(flag);
    }
    let flags: String = "POCF".chars().filter(|c| flags.contains(*c)).collect();
    let line = format!(":{}:M:{}:{}:{}:{}:{flags}", reg.name, reg.offset, reg.magic, reg.mask, reg.interpreter);
    let yes_no = |f: char| if flags.contains(f) { "yes" } else { "no" };
    // The lab may model another machine: this one's tool is said as such.
    let here = registered_by(&reg.name)
        .map(|tool| format!(" (on this machine `{}` is registered by {tool})", reg.name))
        .unwrap_or_default();
    vec![
        format!("entry `{}` needs flags `{flags}`: change it through the tool that registers it{here}", reg.name),
        format!("by binfmt-support (`update-binfmts --display {}` lists it):", reg.name),
        format!(
            "  sudo update-binfmts --package qemu-user-static --remove {name} {interp} && sudo update-binfmts --install {name} {interp} --magic '{magic}' --mask '{mask}' --offset 0 --credentials {c} --preserve {p} --fix-binary {f}",
            name = reg.name,
            interp = reg.interpreter,
            magic = reg.magic,
            mask = reg.mask,
            c = yes_no('C'),
            p = yes_no('P'),
            f = yes_no('F'),
        ),
        format!("or by systemd-binfmt: write `{line}` to /etc/binfmt.d/{}.conf, then `sudo systemctl restart systemd-binfmt`", reg.name),
        format!(
            "or by Docker's tonistiigi/binfmt (flags CF): `docker run --privileged --rm tonistiigi/binfmt --uninstall {} --install {}`",
            reg.name,
            reg.system.oci_platform
        ),
    ]
}

/// Which tool registers the binfmt_misc entry of a name on the machine a
/// report is read on, if any: evidence handed to a diagnosis, which never
/// reads the machine itself.
pub type RegisteredBy = dyn Fn(&str) -> Option<String>;

/// Why a probe's outcome was not the expected one, and what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub cause: Cause,
    /// A few words, for the matrix's note column.
    pub summary: String,
    /// What happened, from the evidence.
    pub detail: String,
    /// What to change so that it works, in words.
    pub fix: String,
    /// The same as edits to the lab spec, the preferred first; empty when
    /// the cause lies outside the spec (a timeout, a binary for a newer CPU).
    pub changes: Vec<SpecChange>,
    /// What to do on a real machine when no spec change applies (an entry
    /// to enable, a nix.conf that overrides); see [`Diagnosis::machine_steps`].
    pub on_machine: Vec<String>,
}

impl Diagnosis {
    /// What to change on a real machine of the lab's kind: the preferred
    /// spec change's steps, else the cause's own.
    pub fn machine_steps(&self, plan: &Plan, registered_by: &RegisteredBy) -> Vec<String> {
        match self.changes.first() {
            Some(change) => change.machine_steps(plan, registered_by),
            None => self.on_machine.clone(),
        }
    }
}

/// The surprise among `verdicts` whose diagnosis tells most (see
/// [`Cause::informativeness`]; one with a spec change beats one without, then
/// spec order); a surprise without a diagnosis only when none has one.
pub fn most_informative<'v>(plan: &Plan, verdicts: &[&'v Verdict]) -> Option<(&'v Verdict, Option<Diagnosis>)> {
    let mut best: Option<(&'v Verdict, Option<Diagnosis>)> = None;
    let score = |d: &Option<Diagnosis>| {
        d.as_ref().map_or(0, |d| 2 * d.cause.informativeness() + u8::from(!d.changes.is_empty()))
    };
    for v in verdicts.iter().filter(|v| !v.as_expected) {
        let d = diagnose(plan, v);
        if best.as_ref().is_none_or(|(_, b)| score(&d) > score(b)) {
            best = Some((v, d));
        }
    }
    best
}

/// The diagnosis of a verdict that is not as expected; `None` when it is, or
/// when the evidence points at no known cause. A change the lab already has
/// is never proposed.
pub fn diagnose(plan: &Plan, verdict: &Verdict) -> Option<Diagnosis> {
    let mut d = diagnose_evidence(plan, verdict)?;
    d.changes.retain(|c| !c.is_in(plan));
    Some(d)
}

/// The system whose program a probe's command runs: the payload's for the
/// kinds that run one (a native build whose builder is another system's
/// program runs that system's), the probe's own otherwise.
pub fn runs_as(probe: &Probe) -> &'static NixSystem {
    match probe.kind {
        ProbeKind::Exec | ProbeKind::Build => probe.payload,
        _ => probe.system,
    }
}

/// The registration that served the program a probe ran: the one for the
/// system it runs as, or for a `command` probe (which may run anything) the
/// lab's only one.
fn serving_registration<'p>(plan: &'p Plan, probe: &Probe) -> Option<&'p Registration> {
    let only = match (probe.kind, plan.registrations.as_slice()) {
        (ProbeKind::Command, [only]) => Some(only),
        _ => None,
    };
    plan.registration_for(runs_as(probe)).or(only)
}

/// The diagnosis before dropping the changes the lab already has.
fn diagnose_evidence(plan: &Plan, verdict: &Verdict) -> Option<Diagnosis> {
    if verdict.as_expected {
        return None;
    }
    let probe = &verdict.probe;
    let output = verdict.execution.output.as_str();
    let system = probe.system;
    let runs = runs_as(probe);

    if !verdict.execution.ran() {
        // Its output is the backend's word on why, not the probe's: nothing to match.
        return Some(Diagnosis {
            cause: Cause::NoResult,
            summary: "no result: the probe did not run".to_owned(),
            detail: output.to_owned(),
            fix: "look at why the run ended before this probe (above); the probe itself says nothing yet".to_owned(),
            on_machine: Vec::new(),
            changes: Vec::new(),
        });
    }

    if verdict.execution.timed_out {
        return Some(Diagnosis {
            cause: Cause::TimedOut,
            summary: verdict.status_text(),
            detail: format!(
                "`{}` was still running when it {} and was killed with everything it started",
                probe.id(),
                verdict.status_text()
            ),
            fix: "raise the probe's `timeout` if the work is slow under emulation (compiling can take minutes), else look for what hangs in the output".to_owned(),
            on_machine: Vec::new(),
            changes: Vec::new(),
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
            // A probe running another system's binary: the system's own runs.
            on_machine: Vec::new(),
            changes: if payload != system {
                vec![SpecChange::RemovePayload { probe: probe.index, system: system.double }]
            } else {
                Vec::new()
            },
        });
    }

    if let Some(words) = nix_words(plan, output) {
        return Some(words);
    }

    if let Some(req) = Requirement::parse(output) {
        return Some(requirement(plan, &req));
    }

    if let Some(path) = missing_sandbox_path(output) {
        let in_spec = plan.lab.nix.extra_sandbox_paths.iter().any(|p| p == path);
        return Some(Diagnosis {
            cause: Cause::MissingSandboxPath,
            summary: format!("sandbox path {path} does not exist"),
            detail: format!("Nix was told to mount {path} into the build sandbox (extra-sandbox-paths), but it does not exist, so Nix refused to build"),
            fix: format!("create {path} before building, mark the path optional (`extra-sandbox-paths = [\"{path}?\"]`: Nix skips a missing one), or remove it"),
            on_machine: vec![format!("in /etc/nix/nix.conf (on NixOS, nix.settings.extra-sandbox-paths), write `{path}?` for `{path}` in extra-sandbox-paths, or remove it; then restart the daemon")],
            changes: if in_spec {
                vec![SpecChange::MakeSandboxPathOptional(path.to_owned()), SpecChange::RemoveSandboxPath(path.to_owned())]
            } else {
                Vec::new()
            },
        });
    }

    let native = runs.is_native_on(plan.host_arch, plan.host_cpu);
    if output.contains("Exec format error") && !native && plan.registration_for(runs).is_none() {
        let in_lab = plan.lab.systems.contains(&runs);
        return Some(Diagnosis {
            cause: Cause::NothingRegistered,
            summary: format!("nothing registered for {}", runs.double),
            detail: format!(
                "the kernel could not execute a {} binary (\"Exec format error\"): nothing is registered for {} in binfmt_misc{}",
                runs.double,
                runs.double,
                if runs != system { format!(" (the probe's payload; the probe is for {})", system.double) } else { String::new() }
            ),
            fix: format!(
                "register an emulator: `interpreter = \"fhs\"` in the lab's [binfmt] table (qemu-user-static's {}), or boot.binfmt.emulatedSystems = [ \"{}\" ] on NixOS",
                runs.fhs_interpreter(),
                runs.double
            ),
            on_machine: Vec::new(),
            changes: match (in_lab, runs != system) {
                (true, _) => vec![SpecChange::RegisterEmulator],
                (false, true) => vec![SpecChange::RemovePayload { probe: probe.index, system: system.double }],
                (false, false) => Vec::new(),
            },
        });
    }

    if let Some(loader) = missing_loader(output) {
        let in_build = matches!(probe.kind, ProbeKind::Build | ProbeKind::Compile) || is_build_output(output);
        let (detail, fix) = if in_build {
            (
                format!("a dynamically linked {} program asks for its loader {loader}, which the build cannot see: the sandbox holds only store paths (qemu's QEMU_LD_PREFIX would find the loader, but not the tools gcc runs through PATH)", runs.double),
                "use a toolchain whose programs load from its store path (patchelf --set-interpreter and --set-rpath, as nixpkgs' autoPatchelfHook does, or a toolchain built by Nix), or bind the target's root into the sandbox with extra-sandbox-paths".to_owned(),
            )
        } else {
            (
                format!("qemu ran a dynamically linked program and could not open its loader {loader}: this machine has no {} libraries at /", runs.double),
                format!("point qemu at the target's root: QEMU_LD_PREFIX=<root> (Debian's cross libc: /usr/{}), or run a static program", runs.gcc_triple),
            )
        };
        return Some(Diagnosis {
            cause: Cause::TargetLoaderMissing,
            summary: format!("target loader {loader} cannot be opened"),
            detail,
            fix,
            on_machine: if in_build {
                Vec::new()
            } else {
                vec![format!(
                    "install the target's libc (`sudo apt-get install libc6-{}-cross`) and run with QEMU_LD_PREFIX=/usr/{}",
                    runs.debian_arch, runs.gcc_triple
                )]
            },
            changes: Vec::new(),
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
            on_machine: Vec::new(),
            changes: Vec::new(),
        });
    }

    if probe.kind == ProbeKind::Compile && output.contains(&format!("no {} toolchain:", system.double)) {
        return Some(Diagnosis {
            cause: Cause::NoToolchain,
            summary: format!("no {} toolchain on this backend", system.double),
            detail: format!("the backend linked no toolchain at $CROSSLAB_TOOLCHAINS/{}", system.double),
            fix: "run the lab with `cargo xtask lab run` (host or vm backend: it makes Debian's toolchain a store path once, as root, and links it there), or as a rendered NixOS check (nixpkgs' toolchain)".to_owned(),
            on_machine: Vec::new(),
            changes: Vec::new(),
        });
    }

    if output.contains("Exec format error") && !native {
        if let Some((index, reg)) =
            plan.registration_for(runs).and_then(|reg| removed_by_lab(plan, probe, reg).map(|i| (i, reg)))
        {
            return Some(Diagnosis {
                cause: Cause::EntryRemovedByLab,
                summary: format!("probe[{index}] removed the entry `{}`", reg.name),
                detail: format!(
                    "the kernel could not execute a {} binary (\"Exec format error\"): the lab registers `{}`, but probe[{index}] removes or disables it before this probe (a captured machine that registers nothing for {})",
                    runs.double, reg.name, runs.double
                ),
                fix: format!("register an emulator for {} (remove probe[{index}] from the lab)", runs.double),
                on_machine: Vec::new(),
                changes: vec![SpecChange::RemoveProbe { probe: index, system: runs.double }],
            });
        }
    }

    // A program could not be executed inside the sandbox: Nix's "executing
    // '…': No such file or directory" for the builder, a shell's "…: not
    // found" for a program the builder runs.
    let enoent =
        output.contains("No such file or directory") || output.lines().any(|l| l.trim_end().ends_with(": not found"));
    let in_build = matches!(probe.kind, ProbeKind::Build | ProbeKind::Compile) || is_build_output(output);
    // A command may run any program: its registration is the evidence.
    if enoent && in_build && plan.nix_conf.sandbox && (!native || probe.kind == ProbeKind::Command) {
        if let Some(reg) = serving_registration(plan, probe).filter(|r| !r.flags.contains('F')) {
            if let Some(d) = interpreter_outside_sandbox(plan, reg) {
                return Some(d);
            }
        }
    }

    by_kind(plan, verdict)
}

/// Whether a command's output is a Nix build's (its builder ran or failed).
fn is_build_output(output: &str) -> bool {
    output.contains("executing '") || output.contains("builder for '") || output.contains("Cannot build '")
}

/// A sandboxed build whose registration lacks F could not open the
/// interpreter: not in the sandbox paths at all, or in them as a symlink
/// whose target is not.
fn interpreter_outside_sandbox(plan: &Plan, reg: &Registration) -> Option<Diagnosis> {
    let paths = &plan.nix_conf.extra_sandbox_paths;
    if !sandbox_covers(paths, &reg.interpreter) {
        return Some(Diagnosis {
            cause: Cause::InterpreterOutsideSandbox,
            summary: format!("sandbox cannot see {}", reg.interpreter),
            detail: format!(
                "the binfmt_misc entry `{}` names {} without the F flag, so the kernel opens it inside the build's sandbox, where it does not exist; Nix's sandbox is on and {} is not in extra-sandbox-paths",
                reg.name, reg.interpreter, reg.interpreter
            ),
            fix: format!(
                "add `extra-sandbox-paths = [\"{}\"]` to the lab's [nix] table{}, or register with F (`flags = \"{}F\"`)",
                reg.interpreter,
                real_emulator(reg).map(|p| format!(" (and `{p}`: from Debian 13 on the interpreter is a symlink to it, and Nix binds the link alone)")).unwrap_or_default(),
                reg.flags.replace('F', "")
            ),
            on_machine: Vec::new(),
            changes: vec![
                SpecChange::AddSandboxPaths(std::iter::once(reg.interpreter.clone()).chain(real_emulator(reg)).collect()),
                SpecChange::AddFlag('F'),
                SpecChange::SandboxOff,
            ],
        });
    }
    // Listed, yet not there: Debian 13's qemu-<arch>-static is a symlink, and
    // Nix binds a listed symlink as the link alone, without its target.
    let target = real_emulator(reg)?;
    if sandbox_covers(paths, target.trim_end_matches('?')) {
        return None;
    }
    let bare = target.trim_end_matches('?');
    Some(Diagnosis {
        cause: Cause::InterpreterLinkOnly,
        summary: format!("{} is bound as a link without {bare}", reg.interpreter),
        detail: format!(
            "{} is in extra-sandbox-paths and the entry `{}` has no F flag, yet the build could not run it: from Debian 13 on it is a symlink to {bare}, and Nix binds a listed symlink as the link alone, so inside the sandbox it points at nothing",
            reg.interpreter, reg.name
        ),
        fix: format!("add its target {bare} to extra-sandbox-paths (`\"{target}\"`: optional, absent on Debian 12), or register with F"),
        on_machine: Vec::new(),
        changes: vec![SpecChange::AddSandboxPaths(vec![target.clone()]), SpecChange::AddFlag('F')],
    })
}

/// What Nix says about itself, in its own words: a setting its daemon
/// ignored, a sandbox it could not set up, a seccomp filter or a personality
/// the kernel refused.
fn nix_words(plan: &Plan, output: &str) -> Option<Diagnosis> {
    let line_with = |words: &str| output.lines().find(|l| l.contains(words)).map(str::trim);
    let restart = "then restart the daemon: `sudo systemctl restart nix-daemon`".to_owned();
    if let Some(line) = line_with("cannot set 32-bit personality") {
        let on_arm = plan.host_arch == "aarch64";
        return Some(Diagnosis {
            cause: Cause::NoPersonality32,
            summary: "the kernel refuses Nix's 32-bit personality".to_owned(),
            detail: format!(
                "Nix sets the 32-bit personality (PER_LINUX32) for every armv7l, armv6l and i686 build before its builder runs, emulated or not, and the kernel refused it: `{line}`{}",
                if on_arm { " — an aarch64 CPU without AArch32 (NixOS/nix#6473) cannot take it" } else { "" }
            ),
            fix: "build on a machine whose CPU runs 32-bit code (AArch32 on aarch64), or cross-compile (pkgsCross) instead of building for the 32-bit system".to_owned(),
            on_machine: vec![
                "check the CPU: `setarch linux32 true` fails the same way where it has no AArch32".to_owned(),
                "build the 32-bit system on another builder (nix.buildMachines / `--builders`) whose CPU runs it, or cross-compile from this one".to_owned(),
            ],
            changes: Vec::new(),
        });
    }
    if let Some(line) = line_with("unable to load seccomp BPF program") {
        return Some(Diagnosis {
            cause: Cause::SeccompRefused,
            summary: "Nix's seccomp filter was refused".to_owned(),
            detail: format!(
                "Nix loads a seccomp filter into every build, and loading it failed: `{line}` (NixOS/nix#5258: a kernel or emulator without seccomp for this architecture, e.g. Nix itself running under qemu-user)"
            ),
            fix: "run Nix natively, or set `filter-syscalls = false` in nix.conf (builds may then create setuid files)".to_owned(),
            on_machine: vec!["add to /etc/nix/nix.conf: `filter-syscalls = false`".to_owned(), restart.clone()],
            changes: vec![SpecChange::FilterSyscallsOff],
        });
    }
    if let Some(line) = line_with("kernel namespaces that are required for sandboxing")
        .or_else(|| line_with("mounting /proc: Operation not permitted"))
    {
        return Some(Diagnosis {
            cause: Cause::SandboxNamespaces,
            summary: "Nix cannot mount /proc in the sandbox".to_owned(),
            detail: format!(
                "Nix could not set up the build's namespaces: `{line}`; the kernel refuses a new /proc in a user namespace where the /proc it would replace is not fully visible (something is mounted over part of it: a container's masked paths, systemd's binfmt_misc automount; NixOS/nix#7783)"
            ),
            fix: "unmount what covers part of /proc (or run the container with unmasked /proc, e.g. Docker's `--security-opt systempaths=unconfined`), or turn the sandbox off".to_owned(),
            on_machine: vec![
                "find what is mounted below /proc: `findmnt -R /proc`; unmount what covers a non-empty directory there (systemd: `sudo systemctl stop proc-sys-fs-binfmt_misc.automount`)".to_owned(),
                "or, impure: `sandbox = false` in /etc/nix/nix.conf".to_owned(),
                restart.clone(),
            ],
            changes: vec![SpecChange::SandboxOff],
        });
    }
    if let Some(line) = line_with("because it is a restricted setting and you are not a trusted user") {
        let name = line.split_once("setting '").and_then(|(_, r)| r.split_once('\'')).map_or("?", |(n, _)| n);
        let changes = match name {
            "extra-platforms" | "system" => {
                foreign_systems(plan).iter().map(|s| SpecChange::AddPlatform(s.double)).collect()
            }
            "sandbox" => vec![SpecChange::SandboxOff],
            _ => Vec::new(),
        };
        return Some(Diagnosis {
            cause: Cause::RestrictedSetting,
            summary: format!("the daemon ignored `{name}`: not a trusted user"),
            detail: format!(
                "the command passed `{name}` to Nix (--option, NIX_CONFIG or the user's nix.conf), but the daemon runs the build and ignores a restricted setting from a user not in trusted-users: `{line}`"
            ),
            fix: format!("set `{name}` in the daemon's nix.conf (the lab's [nix] table), or add the user to trusted-users"),
            on_machine: vec![
                format!("set `{name}` in /etc/nix/nix.conf, which the daemon reads (on NixOS: nix.settings.{name})"),
                "or trust the user: `trusted-users = root <user>` there (a trusted user can become root through Nix)".to_owned(),
                restart,
            ],
            changes,
        });
    }
    None
}

/// Nix's refusal to build for a platform it does not have: "a 'X' with
/// features {…} is required to build '…', but I am a 'Y' with features {…}"
/// (Nix 2.8 to 2.18), or "Required system: 'X' with features {…}" and
/// "Current system: 'Y' with features {…}" (later releases).
#[derive(Debug, PartialEq, Eq)]
pub struct Requirement {
    pub system: String,
    pub features: Vec<String>,
    pub current: String,
    pub current_features: Vec<String>,
}

impl Requirement {
    pub fn parse(output: &str) -> Option<Requirement> {
        // `'X' with features {a, b}` starting at `text`.
        fn quoted(text: &str) -> Option<(String, Vec<String>, &str)> {
            let rest = text.trim_start().strip_prefix('\'')?;
            let (system, rest) = rest.split_once('\'')?;
            let rest = rest.trim_start().strip_prefix("with features {")?;
            let (features, rest) = rest.split_once('}')?;
            let features = features.split(',').map(str::trim).filter(|f| !f.is_empty()).map(str::to_owned).collect();
            Some((system.to_owned(), features, rest))
        }
        let plain = strip_ansi(output);
        if let Some(at) = plain.find("Required system:") {
            let (system, features, _) = quoted(&plain[at + "Required system:".len()..])?;
            let cur = plain.find("Current system:")?;
            let (current, current_features, _) = quoted(&plain[cur + "Current system:".len()..])?;
            return Some(Requirement { system, features, current, current_features });
        }
        let line = plain.lines().find(|l| l.contains(" is required to build '") && l.contains("but I am a "))?;
        let (system, features, _) = quoted(&line[line.find("a '")? + 1..])?;
        let (_, me) = line.split_once("but I am a ")?;
        let (current, current_features, _) = quoted(me)?;
        Some(Requirement { system, features, current, current_features })
    }
}

/// Nix refused a derivation: its system is not one Nix builds for, or Nix
/// lacks a feature it requires — whichever is missing.
fn requirement(plan: &Plan, req: &Requirement) -> Diagnosis {
    let platform_known = req.system == req.current || plan.nix_conf.extra_platforms.iter().any(|p| p == &req.system);
    let missing: Vec<String> = req.features.iter().filter(|f| !req.current_features.contains(f)).cloned().collect();
    if platform_known && !missing.is_empty() {
        let list = missing.join(", ");
        return Diagnosis {
            cause: Cause::SystemFeatureMissing,
            summary: format!("Nix lacks the system feature {list}"),
            detail: format!(
                "the derivation needs a '{}' with features {{{}}}; {} is Nix's own system or in extra-platforms ({}), but Nix's system-features ({{{}}}) lack {list}",
                req.system,
                req.features.join(", "),
                req.system,
                list_or_none(&plan.nix_conf.extra_platforms),
                req.current_features.join(", ")
            ),
            fix: format!("add {list} to Nix's system-features (`extra-system-features = {}` keeps the defaults)", missing.join(" ")),
            on_machine: Vec::new(),
            changes: vec![SpecChange::AddSystemFeatures(missing)],
        };
    }
    let known = NixSystem::find(&req.system);
    if platform_known {
        // The lab configures it, yet the Nix that built did not have it.
        return Diagnosis {
            cause: Cause::PlatformNotAllowed,
            summary: format!("Nix refuses {} although the lab lists it", req.system),
            detail: format!(
                "the lab's nix.conf has extra-platforms = {}, yet the Nix that built is a '{}' without {}: it read another configuration (a daemon started before the change, NIX_CONF_DIR, or a restricted setting it ignored)",
                list_or_none(&plan.nix_conf.extra_platforms),
                req.current,
                req.system
            ),
            fix: "make the Nix that builds read the setting: restart its daemon, or set it in the daemon's nix.conf".to_owned(),
            on_machine: vec![
                format!("check what the daemon has: `nix show-config | grep extra-platforms` should list {}", req.system),
                "then restart the daemon: `sudo systemctl restart nix-daemon`".to_owned(),
            ],
            changes: Vec::new(),
        };
    }
    Diagnosis {
        cause: Cause::PlatformNotAllowed,
        summary: format!("Nix refuses {}: not in extra-platforms", req.system),
        detail: format!(
            "Nix builds only for its own system ({}) and extra-platforms ({}), so it refused the {} derivation",
            req.current,
            list_or_none(&plan.nix_conf.extra_platforms),
            req.system
        ),
        fix: format!(
            "add `extra-platforms = [\"{}\"]` to the lab's [nix] table (nix.conf: `extra-platforms = {}`){}",
            req.system,
            req.system,
            if missing.is_empty() {
                String::new()
            } else {
                format!(", and the system features {}", missing.join(", "))
            }
        ),
        on_machine: Vec::new(),
        changes: known.map(|s| SpecChange::AddPlatform(s.double)).into_iter().collect(),
    }
}

/// The rules of each probe kind, over what its own command prints.
fn by_kind(plan: &Plan, verdict: &Verdict) -> Option<Diagnosis> {
    let probe = &verdict.probe;
    let output = verdict.execution.output.as_str();
    match probe.kind {
        ProbeKind::Binfmt => binfmt_entry(plan, verdict),
        ProbeKind::NixConfig => nix_setting(plan, verdict),
        ProbeKind::Exec | ProbeKind::Build => {
            if !verdict.passed {
                return None;
            }
            let got = output.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("nothing");
            let ran = runs_as(probe);
            // Whether it was expected to fail (XPASS) or to print another
            // machine: a foreign program ran emulated.
            if ran != probe.system && !ran.is_native_on(plan.host_arch, plan.host_cpu) && got == ran.uname {
                return Some(foreign_program_emulated(plan, probe, got));
            }
            let wanted = probe.expect.line.as_ref()?;
            Some(wrong_machine(plan, probe, wanted, got))
        }
        // A command is the lab's own; compile's rules (a target loader, a host
        // assembler, no toolchain) read any output, so they are above.
        ProbeKind::Command | ProbeKind::Compile | ProbeKind::NixConfEdit => None,
    }
}

/// The probe's payload, another system's program, ran through binfmt_misc
/// (it printed its own machine): the #61537 shape, a build whose result
/// depends on what the host registers.
fn foreign_program_emulated(plan: &Plan, probe: &Probe, got: &str) -> Diagnosis {
    let payload = runs_as(probe);
    let how = match plan.registration_for(payload) {
        Some(reg) => format!(
            "binfmt_misc's entry `{}` ({} with flags `{}`{})",
            reg.name,
            reg.interpreter,
            reg.kernel_flags(),
            if reg.flags.contains('F') { ": F opens it once, so it works inside the sandbox too" } else { "" }
        ),
        None => format!("an emulator binfmt_misc has for {} that the lab does not register (the host's, or one a command probe wrote)", payload.double),
    };
    let build = probe.kind == ProbeKind::Build;
    Diagnosis {
        cause: Cause::ForeignProgramEmulated,
        summary: format!("the {} program ran emulated: `uname -m` = {got}", payload.double),
        detail: format!(
            "the probe is for {}, but its {} is a {} program, which ran through {how}; so `uname -m` says {got}, the emulated machine{}",
            probe.system.double,
            if build { "builder" } else { "command" },
            payload.double,
            if build {
                format!(": this {} build passes or fails with the host's binfmt_misc, not with anything Nix controls", probe.system.double)
            } else {
                String::new()
            }
        ),
        fix: format!(
            "expect what runs ({got}), or make the result independent of the host: run the program through an emulator the build names itself (qemu-{} from the build's inputs), skip foreign programs in the check, or give the build a private binfmt_misc where the kernel has one (Linux ≥ 6.7)",
            payload.qemu
        ),
        on_machine: vec![format!(
            "see what runs {} programs here: `ls /proc/sys/fs/binfmt_misc`; a build that needs one should name its emulator, not rely on this registration",
            payload.double
        )],
        changes: vec![SpecChange::RemovePayload { probe: probe.index, system: probe.system.double }],
    }
}

/// A `binfmt` probe: its command shows the entry (`cat`) or the directory
/// (`ls`), so the output says what is there instead.
fn binfmt_entry(plan: &Plan, verdict: &Verdict) -> Option<Diagnosis> {
    let probe = &verdict.probe;
    let system = probe.system;
    let output = verdict.execution.output.as_str();
    if verdict.passed {
        return None;
    }
    let Some(reg) = plan.registration_for(system).filter(|_| !system.is_native_on(plan.host_arch, plan.host_cpu))
    else {
        // The lab expects no entry: name the one that is there.
        let names = [format!("qemu-{}", system.qemu), system.double.to_owned()];
        let found = output.split_whitespace().find(|w| names.iter().any(|n| n == w))?;
        return Some(Diagnosis {
            cause: Cause::UnexpectedEntry,
            summary: format!("entry `{found}` registered for {}", system.double),
            detail: format!(
                "binfmt_misc has an entry `{found}` for {}, where the lab registers none{}",
                system.double,
                if system.is_native_on(plan.host_arch, plan.host_cpu) {
                    format!(
                        ": {} runs natively on {}, and the entry takes its binaries over",
                        system.double, plan.host_arch
                    )
                } else {
                    String::new()
                }
            ),
            fix: format!("remove it: `echo -1 > {BINFMT_DIR}/{found}` (and from whatever registers it at boot)"),
            on_machine: vec![
                format!("remove the entry: `echo -1 | sudo tee {BINFMT_DIR}/{found}`"),
                format!("and where it is registered at boot: `sudo update-binfmts --disable {found}` (binfmt-support), its file in /etc/binfmt.d or /usr/lib/binfmt.d (systemd-binfmt; mask it with an empty /etc/binfmt.d/<same name>.conf), or `docker run --privileged --rm tonistiigi/binfmt --uninstall {found}`"),
            ],
            changes: Vec::new(),
        });
    };
    let entry = format!("{BINFMT_DIR}/{}", reg.name);
    let field = |key: &str| output.lines().find_map(|l| l.strip_prefix(key)).map(str::trim);
    if output.contains(&entry) && output.contains("No such file or directory") {
        return Some(Diagnosis {
            cause: Cause::EntryMissing,
            summary: format!("entry `{}` is gone", reg.name),
            detail: format!(
                "the lab registered `{}` for {}, but {entry} does not exist when the probe looks: something removed it (a command probe, or a tool that flushes binfmt_misc such as systemd-binfmt's restart)",
                reg.name, system.double
            ),
            fix: format!("register it again after whatever removes it: `{}`", reg.command()),
            on_machine: vec![
                format!("register it again: `{}` (as root), and find what removes it (`systemctl restart systemd-binfmt` flushes every entry and registers only /etc/binfmt.d and /usr/lib/binfmt.d's)", reg.command()),
            ],
            changes: Vec::new(),
        });
    }
    if output.lines().next().map(str::trim) == Some("disabled") {
        return Some(Diagnosis {
            cause: Cause::EntryDisabled,
            summary: format!("entry `{}` is disabled", reg.name),
            detail: format!(
                "{entry} exists but says `disabled`: the kernel ignores it, so {} binaries do not run",
                system.double
            ),
            fix: format!("enable it: `echo 1 > {entry}`"),
            on_machine: vec![format!(
                "enable it: `echo 1 | sudo tee {entry}` (binfmt-support: `sudo update-binfmts --enable {}`)",
                reg.name
            )],
            changes: Vec::new(),
        });
    }
    let interpreter = field("interpreter ");
    let flags = field("flags:");
    if interpreter.is_some_and(|i| i != reg.interpreter) || flags.is_some_and(|f| f != reg.kernel_flags()) {
        let (interpreter, flags) = (interpreter.unwrap_or("?"), flags.unwrap_or("?"));
        return Some(Diagnosis {
            cause: Cause::EntryDiffers,
            summary: format!("entry `{}` is {interpreter} `{flags}`, not the lab's", reg.name),
            detail: format!(
                "{entry} names {interpreter} with flags `{flags}`; the lab registers {} with `{}`: something registered it again differently",
                reg.interpreter,
                reg.kernel_flags()
            ),
            fix: format!(
                "re-register it as the lab does (`echo -1 > {entry}`, then `{}`), or describe the entry as it is in the lab's [binfmt] table",
                reg.command()
            ),
            on_machine: vec![format!(
                "see which tool registered it last (`update-binfmts --display {}`, /etc/binfmt.d, a container's installer) and register it through that one, with flags `{}`",
                reg.name,
                reg.kernel_flags()
            )],
            changes: Vec::new(),
        });
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

/// A `nix-config` probe: it prints `missing from <key>: <value>` for the
/// first setting Nix does not report, or Nix's own error.
fn nix_setting(plan: &Plan, verdict: &Verdict) -> Option<Diagnosis> {
    let output = verdict.execution.output.as_str();
    if verdict.passed {
        return None;
    }
    if let Some(line) = output.lines().find(|l| l.trim_start().starts_with("error:")) {
        return Some(Diagnosis {
            cause: Cause::NixConfigRejected,
            summary: "Nix rejects its configuration".to_owned(),
            detail: format!("`nix show-config` failed: {}", line.trim()),
            fix: "fix the setting it names in nix.conf (the lab's [nix] table, or /etc/nix/nix.conf on the machine)"
                .to_owned(),
            on_machine: vec![
                "fix the setting Nix names in /etc/nix/nix.conf, ~/.config/nix/nix.conf or $NIX_CONF_DIR/nix.conf (`nix show-config` says when it is read right)".to_owned(),
                "then restart the daemon: `sudo systemctl restart nix-daemon`".to_owned(),
            ],
            changes: Vec::new(),
        });
    }
    let (key, value) = output.lines().find_map(|l| l.strip_prefix("missing from "))?.split_once(": ")?;
    let value = value.trim();
    let system = verdict.probe.system;
    let (summary, changes) = match key {
        // Not in the lab's either: the platform is missing. In it: another
        // configuration overrides it (below).
        "extra-platforms" if value == system.double && !plan.nix_conf.extra_platforms.iter().any(|p| p == value) => {
            return Some(Diagnosis {
                cause: Cause::PlatformNotAllowed,
                summary: format!("{} is not in extra-platforms", system.double),
                detail: format!(
                    "Nix lists extra-platforms = {}, without {}: it refuses to build {} derivations",
                    list_or_none(&plan.nix_conf.extra_platforms),
                    system.double,
                    system.double
                ),
                fix: format!(
                    "add `{}` to the lab's [nix] extra-platforms (nix.conf: `extra-platforms = {}`)",
                    system.double, system.double
                ),
                on_machine: Vec::new(),
                changes: vec![SpecChange::AddPlatform(system.double)],
            });
        }
        "sandbox-paths" => (format!("sandbox-paths lacks {value}"), Vec::new()),
        _ => (format!("{key} is not {value}"), Vec::new()),
    };
    Some(Diagnosis {
        cause: Cause::NixSettingMissing,
        summary,
        detail: format!(
            "the lab configures {key} = {value}, but `nix show-config` does not report it: another nix.conf (NIX_CONF_DIR, NIX_USER_CONF_FILES, ~/.config/nix) or a daemon that has not re-read its configuration overrides it"
        ),
        fix: "find which configuration Nix reads (`nix show-config`), and restart the daemon after editing it".to_owned(),
        on_machine: vec![
            format!("set `{key} = {value}` where Nix reads it: /etc/nix/nix.conf, unless NIX_CONF_DIR, NIX_USER_CONF_FILES or ~/.config/nix/nix.conf override it"),
            "then restart the daemon: `sudo systemctl restart nix-daemon` (a daemon reads nix.conf only when it starts)".to_owned(),
        ],
        changes,
    })
}

/// The index of a `command` probe before `probe`, run for its system, that
/// writes `-1` or `0` to `reg`'s entry: the lab's own text is the evidence.
fn removed_by_lab(plan: &Plan, probe: &Probe, reg: &Registration) -> Option<usize> {
    let entry = format!("{BINFMT_DIR}/{}", reg.name);
    plan.lab.probes.iter().enumerate().take(probe.index).find_map(|(i, spec)| {
        let runs_here = spec.systems.as_ref().is_none_or(|only| only.contains(&probe.system));
        let run = spec.run.as_deref().unwrap_or_default();
        let removes = run.lines().any(|l| {
            let l = l.trim();
            (l.starts_with("echo -1 >") || l.starts_with("echo 0 >")) && l.ends_with(entry.as_str())
        });
        (spec.kind == ProbeKind::Command && runs_here && removes).then_some(i)
    })
}

/// `uname -m` said `got` where `wanted` was expected.
fn wrong_machine(plan: &Plan, probe: &Probe, wanted: &str, got: &str) -> Diagnosis {
    let system = probe.system;
    let whose: Vec<&str> = SYSTEMS.iter().filter(|s| s.uname == got).map(|s| s.double).collect();
    let whose = if whose.is_empty() { String::new() } else { format!(" (what {} prints)", whose.join(" and ")) };
    if probe.payload.is_native_on(plan.host_arch, plan.host_cpu) {
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
            on_machine: Vec::new(),
            changes: Vec::new(),
        };
    }
    let cpu = emulated_cpu(plan, probe);
    let emulated = cpu.map_or("qemu's default CPU".to_owned(), |c| format!("the CPU model {c}"));
    let changes = match system.qemu_cpu {
        Some(right) if cpu != Some(right) => vec![SpecChange::SetQemuCpu { probe: probe.index, cpu: Some(right) }],
        None if cpu.is_some() => vec![SpecChange::SetQemuCpu { probe: probe.index, cpu: None }],
        _ => Vec::new(),
    };
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
        on_machine: Vec::new(),
        changes,
    }
}

/// The qemu CPU model a probe's command pins, as the plan chose it.
pub fn emulated_cpu<'p>(plan: &'p Plan, probe: &Probe) -> Option<&'p str> {
    if probe.system.is_native_on(plan.host_arch, plan.host_cpu) {
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

/// `text` without ANSI colour sequences (`ESC [ … m`), which later Nix
/// releases put around "required system or feature not available".
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::{diagnose, missing_loader, missing_sandbox_path, sandbox_covers, Cause, Requirement, SpecChange};
    use crate::outcome::{judge, Execution};
    use crate::plan::Plan;
    use crate::spec;

    /// The diagnosis of `plan`'s first probe had its command printed `output` and failed.
    fn diagnosis(plan: &Plan, output: &str) -> Option<super::Diagnosis> {
        let execution = Execution {
            exit_code: Some(1),
            signal: None,
            timed_out: false,
            duration: std::time::Duration::ZERO,
            output: output.to_owned(),
        };
        diagnose(plan, &judge(&plan.probes[0], execution))
    }

    fn command_lab(nix: &str) -> spec::Lab {
        lab(&format!("description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"armv7l-linux\"]\n[binfmt]\ninterpreter = \"fhs\"\nflags = \"PF\"\n[nix]\n{nix}\n[[probe]]\nkind = \"command\"\nrun = \"true\"\n"))
    }

    #[test]
    fn nix_s_requirement_is_read_in_both_wordings() {
        // Nix 2.8 to 2.26 (measured), one line.
        let old = "error: a 'aarch64-linux' with features {gccarch-armv8-a} is required to build '/nix/store/a-f.drv', but I am a 'x86_64-linux' with features {benchmark, big-parallel, kvm, nixos-test}";
        let want = Requirement {
            system: "aarch64-linux".into(),
            features: vec!["gccarch-armv8-a".into()],
            current: "x86_64-linux".into(),
            current_features: vec!["benchmark".into(), "big-parallel".into(), "kvm".into(), "nixos-test".into()],
        };
        assert_eq!(Requirement::parse(old), Some(want));
        // Later releases (derivation-goal.cc: "Cannot build … Required system: … Current system: …"), coloured.
        let new = "error: Cannot build '\u{1b}[35;1m/nix/store/a-f.drv\u{1b}[0m'.\nReason: \u{1b}[31;1mrequired system or feature not available\u{1b}[0m\nRequired system: '\u{1b}[35;1marmv7l-linux\u{1b}[0m' with features {}\nCurrent system: '\u{1b}[35;1mx86_64-linux\u{1b}[0m' with features {kvm, uid-range}";
        let got = Requirement::parse(new).expect("parsed");
        assert_eq!((got.system.as_str(), got.features.len()), ("armv7l-linux", 0));
        assert_eq!(
            (got.current.as_str(), got.current_features),
            ("x86_64-linux", vec!["kvm".into(), "uid-range".into()])
        );
        assert_eq!(Requirement::parse("error: builder for '/nix/store/a.drv' failed"), None);
    }

    #[test]
    fn the_missing_one_of_platform_and_features_is_named_and_never_one_the_spec_has() {
        let req = |features: &str| {
            format!("error: a 'armv7l-linux' with features {{{features}}} is required to build '/nix/store/a-f.drv', but I am a 'x86_64-linux' with features {{kvm}}")
        };
        // The platform is there (nix-community/infra#1916): the feature is missing.
        let with = command_lab("extra-platforms = [\"armv7l-linux\"]");
        let d = diagnosis(&Plan::new(&with, "x86_64"), &req("gccarch-armv7-a")).unwrap();
        assert_eq!(d.cause, Cause::SystemFeatureMissing);
        assert_eq!(d.changes, vec![SpecChange::AddSystemFeatures(vec!["gccarch-armv7-a".into()])]);
        // Without it: the platform, even if a feature is missing too.
        let without = command_lab("extra-platforms = []");
        let d = diagnosis(&Plan::new(&without, "x86_64"), &req("gccarch-armv7-a")).unwrap();
        assert_eq!((d.cause, d.changes), (Cause::PlatformNotAllowed, vec![SpecChange::AddPlatform("armv7l-linux")]));
        // Both there, yet refused (say, a daemon with another nix.conf): nothing to add.
        let d = diagnosis(&Plan::new(&with, "x86_64"), &req("")).unwrap();
        assert_eq!(d.cause, Cause::PlatformNotAllowed);
        assert!(d.changes.is_empty(), "{d:?}");
    }

    #[test]
    fn nix_s_own_words_name_their_cause() {
        let lab = command_lab("");
        let plan = Plan::new(&lab, "x86_64");
        let cause = |output: &str| diagnosis(&plan, output).map(|d| d.cause);
        assert_eq!(cause("error: unable to load seccomp BPF program: Invalid argument"), Some(Cause::SeccompRefused));
        assert_eq!(cause("error: cannot set 32-bit personality: Invalid argument"), Some(Cause::NoPersonality32));
        assert_eq!(cause("error: mounting /proc: Operation not permitted"), Some(Cause::SandboxNamespaces));
        assert_eq!(
            cause("error: this system does not support the kernel namespaces that are required for sandboxing; use '--no-sandbox' to disable sandboxing"),
            Some(Cause::SandboxNamespaces)
        );
        let restricted = diagnosis(&plan, "warning: ignoring the client-specified setting 'sandbox-paths', because it is a restricted setting and you are not a trusted user\nerror: x").unwrap();
        assert_eq!(restricted.cause, Cause::RestrictedSetting);
        assert!(restricted.summary.contains("`sandbox-paths`"), "{restricted:?}");
        // nix#6473 happens on aarch64: the diagnosis says why there.
        let arm = Plan::new(&lab, "aarch64");
        let d = diagnosis(&arm, "error: cannot set 32-bit personality: Invalid argument").unwrap();
        assert!(d.detail.contains("without AArch32"), "{d:?}");
        // A sandbox already off is not proposed again.
        let off = command_lab("sandbox = false");
        let d = diagnosis(&Plan::new(&off, "x86_64"), "error: mounting /proc: Operation not permitted").unwrap();
        assert!(d.changes.is_empty(), "{d:?}");
    }

    #[test]
    fn paths_in_nix_s_and_qemu_s_words_are_read() {
        let nix = "error: getting attributes of path '/run/binfmt': No such file or directory";
        assert_eq!(missing_sandbox_path(nix), Some("/run/binfmt"));
        let qemu = "qemu-aarch64: Could not open '/lib/ld-linux-aarch64.so.1': No such file or directory";
        assert_eq!(missing_loader(qemu), Some("/lib/ld-linux-aarch64.so.1"));
        assert_eq!(missing_loader("qemu-aarch64: Could not open '/x/prog': No such file or directory"), None);
    }

    #[test]
    fn a_change_the_spec_already_has_is_in_it() {
        let lab = lab("description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"armv7l-linux\"]\n[binfmt]\ninterpreter = \"fhs\"\nflags = \"PF\"\n[nix]\nextra-platforms = [\"armv7l-linux\"]\nextra-sandbox-paths = [\"/usr/bin/qemu-arm-static\", \"/run/binfmt?\"]\n[[probe]]\nkind = \"build\"\n");
        let plan = Plan::new(&lab, "x86_64");
        for change in [
            SpecChange::AddPlatform("armv7l-linux"),
            SpecChange::AddFlag('F'),
            SpecChange::RegisterEmulator,
            SpecChange::AddSandboxPaths(vec!["/usr/bin/qemu-arm-static".into()]),
            SpecChange::MakeSandboxPathOptional("/run/binfmt".into()),
            SpecChange::RemovePayload { probe: 0, system: "armv7l-linux" },
        ] {
            assert!(change.is_in(&plan), "{change:?}");
        }
        for change in [
            SpecChange::AddPlatform("aarch64-linux"),
            SpecChange::AddFlag('C'),
            SpecChange::SandboxOff,
            SpecChange::AddSandboxPaths(vec!["/usr/bin/qemu-arm-static".into(), "/usr/bin/qemu-arm?".into()]),
            SpecChange::RemoveSandboxPath("/run/binfmt".into()),
            SpecChange::AddSystemFeatures(vec!["gccarch-armv7-a".into()]),
        ] {
            assert!(!change.is_in(&plan), "{change:?}");
        }
    }

    fn lab(text: &str) -> spec::Lab {
        spec::parse("t", std::path::Path::new("t.toml"), text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_f_flag_on_a_real_machine_goes_through_the_tool_that_registered_the_entry() {
        let lab = lab("description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n[binfmt]\nflags = \"P\"\n[[probe]]\nkind = \"build\"\n");
        let plan = Plan::new(&lab, "x86_64");
        let steps = SpecChange::AddFlag('F').machine_steps(&plan, &|_| None).join("\n");
        assert!(
            steps.contains(
                "update-binfmts --package qemu-user-static --remove qemu-aarch64 /usr/bin/qemu-aarch64-static"
            ),
            "{steps}"
        );
        assert!(steps.contains("--preserve yes --fix-binary yes"), "{steps}");
        assert!(steps.contains(r"write `:qemu-aarch64:M::\x7fELF\x02"), "{steps}");
        assert!(steps.contains(":/usr/bin/qemu-aarch64-static:PF` to /etc/binfmt.d/qemu-aarch64.conf"), "{steps}");
        assert!(steps.contains("systemctl restart systemd-binfmt"), "{steps}");
        assert!(steps.contains("tonistiigi/binfmt --uninstall qemu-aarch64 --install linux/arm64"), "{steps}");
    }

    #[test]
    fn a_nixos_lab_is_told_its_options() {
        let lab =
            lab("description = \"d\"\nhost = \"nixos\"\nsystems = [\"aarch64-linux\"]\n[[probe]]\nkind = \"build\"\n");
        let plan = Plan::new(&lab, "x86_64");
        let f = SpecChange::AddFlag('F').machine_steps(&plan, &|_| None).join("\n");
        assert!(f.contains("boot.binfmt.preferStaticEmulators = true;") && f.contains("nixos-rebuild switch"), "{f}");
        let path = SpecChange::AddSandboxPaths(vec!["/x".into()]).machine_steps(&plan, &|_| None).join("\n");
        assert!(path.contains("nix.settings.extra-sandbox-paths = [ \"/x\" ];"), "{path}");
        let register = SpecChange::RegisterEmulator.machine_steps(&plan, &|_| None).join("\n");
        assert!(register.contains("boot.binfmt.emulatedSystems = [ \"aarch64-linux\" ];"), "{register}");
    }

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
