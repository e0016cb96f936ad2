//! Diagnoses: why a probe did not end as its lab expected, told from the
//! evidence the run collected (the plan's registrations and Nix settings, the
//! probe's exit status and output) together with the fix.
//!
//! Each cause is one rule below. A rule names a cause only when the evidence
//! for it is all there; anything else gets no diagnosis rather than a guess.
//! Rules that read any command's output come first; then each probe kind has
//! its own rules over what its command prints ([`by_kind`]).
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
            Cause::TimedOut => 1,
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
                "build the program for {system}'s instruction set (e.g. GOARM, -march), not a newer CPU's"
            )],
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
            on_machine: Vec::new(),
            changes: vec![SpecChange::AddPlatform(system.double)],
        });
    }

    if let Some(path) = missing_sandbox_path(output) {
        if plan.nix_conf.sandbox {
            return Some(Diagnosis {
                cause: Cause::MissingSandboxPath,
                summary: format!("sandbox path {path} does not exist"),
                detail: format!("Nix was told to mount {path} into the build sandbox (extra-sandbox-paths), but it does not exist, so Nix refused to build"),
                fix: format!("create {path} before building, or mark the path optional: `extra-sandbox-paths = [\"{path}?\"]`"),
                on_machine: Vec::new(),
                changes: plan
                    .lab
                    .nix
                    .extra_sandbox_paths
                    .iter()
                    .any(|p| p == path)
                    .then(|| SpecChange::MakeSandboxPathOptional(path.to_owned()))
                    .into_iter()
                    .collect(),
            });
        }
    }

    let native = system.is_native_on(plan.host_arch, plan.host_cpu);
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
            on_machine: Vec::new(),
            changes: if plan.lab.binfmt.interpreter == Interpreter::None {
                vec![SpecChange::RegisterEmulator]
            } else {
                Vec::new()
            },
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
            on_machine: Vec::new(),
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
            plan.registration_for(system).and_then(|reg| removed_by_lab(plan, probe, reg).map(|i| (i, reg)))
        {
            return Some(Diagnosis {
                cause: Cause::EntryRemovedByLab,
                summary: format!("probe[{index}] removed the entry `{}`", reg.name),
                detail: format!(
                    "the kernel could not execute a {} binary (\"Exec format error\"): the lab registers `{}`, but probe[{index}] removes or disables it before this probe (a captured machine that registers nothing for {})",
                    system.double, reg.name, system.double
                ),
                fix: format!("register an emulator for {} (remove probe[{index}] from the lab)", system.double),
                on_machine: Vec::new(),
                changes: vec![SpecChange::RemoveProbe { probe: index, system: system.double }],
            });
        }
    }

    // The builder could not be executed inside the sandbox ("executing '…'":
    // Nix's words): a build probe, or a command probe that builds.
    let builder_not_found = output.contains("No such file or directory")
        && (matches!(probe.kind, ProbeKind::Build | ProbeKind::Compile) || output.contains("executing '"));
    if builder_not_found && plan.nix_conf.sandbox {
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
        }
    }

    by_kind(plan, verdict)
}

/// The rules of each probe kind, over what its own command prints.
fn by_kind(plan: &Plan, verdict: &Verdict) -> Option<Diagnosis> {
    let probe = &verdict.probe;
    let output = verdict.execution.output.as_str();
    match probe.kind {
        ProbeKind::Binfmt => binfmt_entry(plan, verdict),
        ProbeKind::NixConfig => nix_setting(plan, verdict),
        ProbeKind::Exec | ProbeKind::Build => {
            let wanted = probe.expect.line.as_ref()?;
            if !verdict.passed {
                return None;
            }
            let got = output.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("nothing");
            Some(wrong_machine(plan, probe, wanted, got))
        }
        // A command is the lab's own; compile's rules (a target loader, a host
        // assembler, no toolchain) read any output, so they are above.
        ProbeKind::Command | ProbeKind::Compile => None,
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
        "extra-platforms" if value == system.double => {
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
    if system.is_native_on(plan.host_arch, plan.host_cpu) {
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

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::{sandbox_covers, SpecChange};
    use crate::plan::Plan;
    use crate::spec;

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
