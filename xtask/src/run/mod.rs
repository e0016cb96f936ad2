//! `lab run`: executing a plan's probes on a backend and judging each outcome
//! against the spec's expectation.

pub mod executor;
pub mod holder;
pub mod host;
pub mod idmap;
pub mod nixos;
pub mod process;
pub mod vm;

pub use executor::{fault_point, register, register_compilers, run_plan, Executor};

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use xshell::Shell;

use crate::flags;
use crate::outcome::{LabReport, Verdict};
use crate::plan::Plan;
use crate::provision::{binfmt_wrapper, compilers};
use crate::provision::{payload, prereq, stack};

/// Whether `plan` models a host of another architecture than this machine
/// (`host-system`): it runs in a VM of that architecture whatever backend
/// the other labs of its run use.
pub fn needs_foreign_guest(plan: &Plan) -> bool {
    plan.lab.host_system.is_some_and(|h| h.arch != std::env::consts::ARCH)
}

/// The backend `lab run` and `lab matrix` use for the labs of this
/// machine's architecture: the one asked for, else `host` where this kernel
/// and user can mount a private binfmt_misc, else `vm`; the choice is said
/// in one line. A lab that models another architecture's host always runs
/// in a VM of it ([`needs_foreign_guest`]), beside the others; asking for
/// `host` or `nixos` with such a lab is an error that names `--backend vm`.
pub fn choose_backend(
    asked: Option<flags::Backend>,
    allow_global: bool,
    plans: &[&Plan],
) -> anyhow::Result<flags::Backend> {
    let foreign: Vec<&&Plan> = plans.iter().filter(|p| needs_foreign_guest(p)).collect();
    if let Some(plan) = foreign.first() {
        let host = plan.lab.host_system.map_or("?", |h| h.double);
        match asked {
            Some(flags::Backend::Vm) | None => {
                let names: Vec<&str> = foreign.iter().map(|p| p.lab.name.as_str()).collect();
                eprintln!(
                    "crosslab: backend vm for {}: {} an {host} host, which only a VM of that architecture can be",
                    names.join(", "),
                    if names.len() == 1 { "it models" } else { "they model" }
                );
            }
            Some(other) => bail!(
                "lab `{}` models an {host} host (`host-system` in {}), which the {} backend cannot be: it runs on this {} machine's own kernel\n  help: use --backend vm, or no --backend (such a lab then runs in a VM of its architecture, the others where they would)",
                plan.lab.name,
                plan.lab.path.display(),
                format!("{other:?}").to_lowercase(),
                std::env::consts::ARCH
            ),
        }
        if foreign.len() == plans.len() {
            return Ok(flags::Backend::Vm);
        }
    }
    if let Some(backend) = asked {
        return Ok(backend);
    }
    if allow_global {
        return Ok(flags::Backend::Host);
    }
    Ok(match crate::machine::private_binfmt_misc() {
        Ok(why) => {
            eprintln!("crosslab: backend host: {why}");
            flags::Backend::Host
        }
        Err(why) => {
            eprintln!(
                "crosslab: backend vm: {why}, so labs run in a VM with a kernel of their own (--backend host --allow-global would use the host's binfmt_misc instead)"
            );
            flags::Backend::Vm
        }
    })
}

/// Labs running on one stack: what was prepared once (payloads, the stack's
/// root, booted guests) for every lab of a `lab run` or `lab matrix`. The
/// labs of this machine's architecture run on the host backend or in an
/// x86_64 guest; a lab of another host architecture in a guest of its own kind.
pub struct Session {
    /// The stack's versions where the first labs run (the host, else the
    /// first guest): what `lab matrix` heads a stack's column with.
    pub versions: crate::outcome::Versions,
    host: Option<(HostEnv, crate::outcome::Versions)>,
    /// One guest per kind of guest the labs need (most runs: none or one).
    guests: Vec<(vm::GuestKind, vm::Guest, crate::outcome::Versions)>,
}

impl Session {
    /// Prepares `backend` with `stack` for `plans` (the labs of another
    /// host architecture in VMs of it whatever `backend` is): checks and
    /// installs prerequisites, builds the stack's root, fetches payloads,
    /// boots the guests.
    pub fn start(
        backend: flags::Backend,
        stack: &'static stack::Stack,
        plans: &[&Plan],
        allow_global: bool,
    ) -> anyhow::Result<Session> {
        let sh = Shell::new()?;
        let (in_guests, on_host): (Vec<&Plan>, Vec<&Plan>) = match backend {
            flags::Backend::Host => plans.iter().partition(|p| needs_foreign_guest(p)),
            flags::Backend::Vm => (plans.to_vec(), Vec::new()),
            flags::Backend::Nixos => {
                bail!("the nixos backend runs labs with `lab run --backend nixos` (one nix build per lab), not here")
            }
        };
        if !in_guests.is_empty() && allow_global && on_host.is_empty() {
            bail!("--allow-global is for the host backend; the vm backend registers in its own guest kernel");
        }
        let mut host = None;
        if !on_host.is_empty() || in_guests.is_empty() {
            let global_binfmt = preflight(allow_global)?;
            let payloads = prepare_host(&sh, &on_host, stack)?;
            let lower = stack.lower_root(&sh)?;
            let versions = crate::outcome::Versions::of(stack, &lower);
            host = Some((HostEnv { payloads, global_binfmt, lower, suite: stack.suite }, versions));
        }
        let suite = stack.suite.unwrap_or(crate::provision::guest_image::SUITE);
        let mut kinds: Vec<vm::GuestKind> = in_guests.iter().map(|p| vm::guest_kind(p)).collect();
        kinds.sort();
        kinds.dedup();
        let mut guests: Vec<(vm::GuestKind, vm::Guest, crate::outcome::Versions)> = Vec::new();
        for kind in kinds {
            let these: Vec<&Plan> = in_guests.iter().copied().filter(|p| vm::guest_kind(p) == kind).collect();
            match vm::boot_for(&sh, &these, suite, kind) {
                Ok(guest) => {
                    let versions = vm::versions(&guest, stack);
                    guests.push((kind, guest, versions));
                }
                Err(e) => {
                    for (_, guest, _) in guests {
                        guest.shutdown();
                    }
                    return Err(e);
                }
            }
        }
        let versions = match (&host, guests.first()) {
            (Some((_, versions)), _) | (None, Some((_, _, versions))) => versions.clone(),
            (None, None) => unreachable!("a session prepares the host when it boots no guest"),
        };
        Ok(Session { versions, host, guests })
    }

    /// Runs one lab, calling `on_verdict` as each probe ends.
    pub fn run(&self, plan: &Plan, on_verdict: &mut dyn FnMut(&Verdict)) -> anyhow::Result<LabReport> {
        let (place, versions) = self.place_of(plan)?;
        let mut report = match place {
            Place::Host(env) => run_on_host(plan, env, &versions.keys(), on_verdict)
                .with_context(|| format!("lab `{}` could not run", plan.lab.name))?,
            Place::Guest(guest) => vm::run_vm(plan, guest, &versions.keys(), on_verdict)
                .with_context(|| format!("lab `{}` could not run in the VM", plan.lab.name))?,
        };
        report.versions = Some(versions.clone());
        Ok(report)
    }

    /// A lab's `--json` object: diagnosed verdicts, the stack and its
    /// versions, plus the guest for a lab that ran in one.
    pub fn to_json(&self, plan: &Plan, report: &LabReport) -> anyhow::Result<serde_json::Value> {
        let (place, versions) = self.place_of(plan)?;
        let mut value = match place {
            Place::Host(_) => serde_json::to_value(report.to_json_diagnosed(plan))?,
            Place::Guest(guest) => vm::to_json(plan, report, guest)?,
        };
        value["versions"] = serde_json::to_value(versions)?;
        Ok(value)
    }

    /// The guest `plan` runs in; `None` when it runs on the host.
    pub fn guest_for(&self, plan: &Plan) -> anyhow::Result<Option<&vm::Guest>> {
        Ok(match self.place_of(plan)?.0 {
            Place::Host(_) => None,
            Place::Guest(guest) => Some(guest),
        })
    }

    /// Where `plan` runs (the host, unless the session has none or the lab
    /// models another architecture's host; else the guest of its kind), and
    /// the versions of that place.
    fn place_of(&self, plan: &Plan) -> anyhow::Result<(Place<'_>, &crate::outcome::Versions)> {
        if let Some((env, versions)) = self.host.as_ref().filter(|_| !needs_foreign_guest(plan)) {
            return Ok((Place::Host(env), versions));
        }
        let kind = vm::guest_kind(plan);
        let (_, guest, versions) = self
            .guests
            .iter()
            .find(|(k, _, _)| *k == kind)
            .with_context(|| format!("no VM of kind {kind:?} was booted for lab `{}`", plan.lab.name))?;
        Ok((Place::Guest(guest), versions))
    }

    /// The backend the labs of this machine's architecture run on, as
    /// their reports say it.
    pub fn backend_name(&self) -> &'static str {
        if self.host.is_some() {
            "host"
        } else {
            "vm"
        }
    }

    /// Ends the session (shuts the guests down).
    pub fn finish(self) {
        for (_, guest, _) in self.guests {
            guest.shutdown();
        }
    }
}

/// Where a lab of a [`Session`] runs.
enum Place<'s> {
    Host(&'s HostEnv),
    Guest(&'s vm::Guest),
}

/// What the host backend prepared for its labs.
pub struct HostEnv {
    /// The payload cache.
    pub payloads: PathBuf,
    /// Register in the host's binfmt_misc (`--allow-global`).
    pub global_binfmt: bool,
    /// The stack's root filesystem: `/` for the host stack.
    pub lower: PathBuf,
    /// The stack's Debian suite (none for the host stack), whose cross
    /// compilers the compile probes are timed against.
    pub suite: Option<&'static str>,
}

/// One lab run on a backend, its verdicts handed to `on_verdict` as they come.
pub type RunLab<'a> = dyn FnMut(&Plan, &mut dyn FnMut(&Verdict)) -> anyhow::Result<LabReport> + 'a;
/// One lab's `--json` line.
pub type LabJson<'a> = dyn Fn(&Plan, &LabReport) -> anyhow::Result<String> + 'a;
/// How `lab run` shows labs as a backend runs them (the terminal report,
/// `--json`, `--junit`) and what it exits with: given by the command, so a
/// backend never prints a report itself.
pub type Reporter<'a> = dyn Fn(&[Plan], &mut RunLab, &LabJson) -> anyhow::Result<ExitCode> + 'a;

/// The programs the host backend runs, besides the labs' emulators.
pub const HOST_TOOLS: &[&str] = &["unshare", "nsenter", "setarch", "nix", "nix-build", "apt-get", "dpkg-deb"];

/// The programs the host backend runs from the host itself whatever the
/// stack: the lab's set-up and fetching payloads.
pub const SETUP_TOOLS: &[&str] = &["unshare", "nsenter", "apt-get", "dpkg-deb"];

/// Installs what the host backend needs for `plans` on `stack` (programs,
/// and for the host stack Nix and the emulators) and fetches their payloads;
/// returns the payload directory.
pub fn prepare_host(sh: &Shell, plans: &[&Plan], stack: &stack::Stack) -> anyhow::Result<PathBuf> {
    let tools = if stack.is_host() { HOST_TOOLS } else { SETUP_TOOLS };
    let mut programs: Vec<String> = tools.iter().map(|p| (*p).to_owned()).collect();
    if stack.is_host() {
        programs.extend(
            plans.iter().flat_map(|p| p.registrations.iter().map(|r| r.system.fhs_emulator(p.lab.binfmt.emulator))),
        );
    }
    programs.sort();
    programs.dedup();
    prereq::ensure(sh, &programs)?;
    compilers::prepare(sh, plans, stack.suite)?;
    payload::ensure(sh, &crate::plan::payload_systems(plans))
}

/// Checks what the host backend needs from the kernel and the user; returns
/// whether binfmt_misc must be the host's global instance.
pub fn preflight(allow_global: bool) -> anyhow::Result<bool> {
    if !cfg!(target_os = "linux") {
        bail!("the host backend needs Linux (binfmt_misc, user namespaces)");
    }
    let is_root = unsafe { libc::geteuid() } == 0;
    if !is_root && allow_global {
        bail!("--allow-global registers in the host's binfmt_misc, which only root may do\n  help: sudo -E cargo xtask lab run --allow-global …");
    }
    if !is_root {
        // Without root the lab's user namespace is mapped by newuidmap.
        idmap::IdMap::for_current_user()?;
    }
    match (crate::machine::private_binfmt_misc(), allow_global) {
        (Ok(_), _) => Ok(false),
        (Err(why), true) => {
            eprintln!(
                "crosslab: {why}: registering in the host's binfmt_misc (--allow-global); its entries are saved, cleared for the lab, and restored when the lab ends"
            );
            Ok(true)
        }
        (Err(why), false) => bail!(
            "{why}, so the host backend cannot register emulators without touching the host\n  help: use --backend vm (a Debian VM with its own kernel; what `lab run` picks without --backend), or --allow-global (root) to register in the host's binfmt_misc and restore its entries afterwards"
        ),
    }
}

/// Runs one lab on the host backend and the host stack, calling
/// `on_verdict` as each probe ends.
pub fn run_host(
    plan: &Plan,
    payloads: &Path,
    global_binfmt: bool,
    on_verdict: &mut dyn FnMut(&Verdict),
) -> anyhow::Result<LabReport> {
    let env = HostEnv { payloads: payloads.to_path_buf(), global_binfmt, lower: PathBuf::from("/"), suite: None };
    let keys = crate::outcome::Versions::of(stack_host(), Path::new("/")).keys();
    run_on_host(plan, &env, &keys, on_verdict)
}

/// The host stack's row.
fn stack_host() -> &'static stack::Stack {
    stack::Stack::find("host").expect("the host stack is a row")
}

/// Runs one lab on the host backend as `env` says, judged for a run known
/// by `keys`, calling `on_verdict` as each probe ends.
pub fn run_on_host(
    plan: &Plan,
    env: &HostEnv,
    keys: &[String],
    on_verdict: &mut dyn FnMut(&Verdict),
) -> anyhow::Result<LabReport> {
    let ns = start_host(plan, env)?;
    let verdicts = run_plan(plan, &ns, keys, on_verdict)?;
    ns.stop()?;
    Ok(LabReport { lab: plan.lab.name.clone(), backend: "host", verdicts, versions: None })
}

/// Starts a lab's namespaces on the host backend with its Nix set-up (and a
/// simulated NixOS's links), before anything is registered: `lab run` and
/// `lab shell` start a lab the same way.
pub fn start_host(plan: &Plan, env: &HostEnv) -> anyhow::Result<host::HostLab> {
    if let (true, Some(system)) = (env.global_binfmt, executor::own_system_entry(plan)) {
        bail!(
            "`{}` registers the host's own system `{system}`: in the host's binfmt_misc (--allow-global) it would take over every exec on this machine, crosslab's restore included\n  help: run it where the kernel gives each lab a private binfmt_misc (Linux 6.7 or later), without --allow-global",
            plan.lab.name
        );
    }
    let nixos = plan
        .nixos_simulation(&mut |program| crate::plan::shared_objects_in(&env.lower, program), &mut |wrapper| {
            binfmt_wrapper::ensure(wrapper)
        })?;
    let on_host_stack = env.lower == Path::new("/");
    let mut setup = host::Setup {
        lower: env.lower.clone(),
        payloads: env.payloads.clone(),
        nix_conf: plan.nix_conf.to_nix_conf(&nixos.extra_sandbox_paths),
        links: nixos.links,
        global_binfmt: env.global_binfmt,
        // A stack's own Nix is in its root; the host's may be in /nix/store.
        host_nix: if on_host_stack { host::HostNix::find()? } else { None },
        cache: None,
        store_trees: Vec::new(),
        files: nixos.files,
    };
    if nixos.uses_cache {
        setup.cache = Some(payload::cache_dir()?);
    }
    // The compile probes' compilers (made by prepare_host; found in the cache here).
    let compilers = compilers::LabCompilers::of(plan, env.suite)?;
    if compilers.needs_cache() {
        setup.cache = Some(payload::cache_dir()?);
        setup.store_trees = compilers.store_binds();
        setup.links.extend(compilers.links());
        setup.files.extend(compilers.files());
    }
    if let Some(system) = plan.nix_conf.daemon.as_ref().and_then(|d| d.emulated) {
        let (cache, link) = emulated_nix(system, env.suite)?;
        setup.cache = Some(cache);
        setup.links.push((crate::plan::EMULATED_NIX_DIR.to_owned(), link));
    }
    let ns = host::HostLab::start(&setup)?;
    register_compilers(&compilers, &ns)?;
    Ok(ns)
}

/// `[nix] emulated`: the stack suite's `nix-bin` for `system`, unpacked once
/// into a cached Debian root of that architecture; returns the cache and the
/// root's path as the lab sees it (under its read-only cache). The host
/// stack takes bookworm's (Debian 12: Nix 2.8, the host's Nix here).
fn emulated_nix(system: &crate::systems::NixSystem, suite: Option<&str>) -> anyhow::Result<(PathBuf, String)> {
    let suite = suite.unwrap_or("bookworm");
    let recipe = crate::provision::rootfs::Recipe {
        name: format!("nix-{suite}-{}", system.debian_arch),
        suite: suite.to_owned(),
        arch: system.debian_arch.to_owned(),
        variant: crate::provision::rootfs::Variant::Extract,
        packages: vec!["nix-bin".to_owned()],
        dpkg_filters: Vec::new(),
        links: Vec::new(),
    };
    let tree = crate::provision::rootfs::ensure(&Shell::new()?, &recipe)?.tree();
    let cache = payload::cache_dir()?;
    let relative = tree.strip_prefix(&cache).with_context(|| {
        format!("the {} Nix root `{}` is not under the cache `{}`", system.double, tree.display(), cache.display())
    })?;
    Ok((cache, format!("{}/{}", crate::lab_paths::LAB_CACHE_DIR, relative.display())))
}

#[cfg(test)]
mod tests {
    use crate::provision::prereq::package_of;
    use crate::systems::SYSTEMS;

    #[test]
    fn every_program_crosslab_asks_for_has_a_package() {
        let mut programs: Vec<String> = super::HOST_TOOLS.iter().map(|p| (*p).to_owned()).collect();
        programs.extend(super::vm::host_programs());
        programs.extend(crate::provision::guest_image::build_programs());
        programs.push("arch-test".to_owned());
        programs.extend(crate::provision::guest_image::GUEST_ARCHES.iter().map(|g| g.qemu.program.to_owned()));
        programs.extend(SYSTEMS.iter().map(|s| s.fhs_interpreter()));
        for p in &programs {
            assert!(package_of(p).is_some(), "no package for {p}");
        }
        assert_eq!(package_of("/usr/bin/qemu-riscv64-static"), Some("qemu-user-static"));
        assert_eq!(package_of("crosslab-no-such-tool"), None, "unknown programs are not guessed to be in coreutils");
    }
}
