//! The vm backend: the same labs inside a real virtual machine, for hosts
//! that are not NixOS (or whose kernel has no binfmt_misc namespaces). A
//! Debian guest boots from a cached image ([`image`]) under qemu, and the
//! probes run in it through a command channel ([`guest`]) with the same
//! `run_plan`/`judge` as the host backend, so verdicts and JSON are the same
//! (backend `"vm"`, plus the guest's kernel).
//!
//! One guest serves every lab of a run that needs the same kind of guest
//! ([`GuestKind`]: x86_64, or an aarch64 host's CPU); each lab gets a fresh
//! Nix store, binfmt_misc and nix.conf ([`Guest::reset`]).

mod base64;
pub mod guest;

use anyhow::Context;
use xshell::Shell;

pub use crate::provision::guest_image::Image;
pub use guest::{choose_accel, Accel, BootOptions, Guest};

use crate::outcome::{LabReport, Verdict};
use crate::plan::Plan;
use crate::provision::compilers::{self, LabCompilers};
use crate::provision::guest_image as image;
use crate::provision::{binfmt_wrapper, payload, prereq};
use crate::run::executor::{self, run_plan};

/// Programs the vm backend runs on the host: mkfs.ext4 (payload disk) and
/// what fetching payloads takes; qemu itself comes from [`qemu`]. Building
/// the image needs [`image::build_programs`] too.
pub fn host_programs() -> Vec<String> {
    ["mkfs.ext4", "apt-get", "dpkg-deb"].map(str::to_owned).to_vec()
}

/// Runs one lab in `guest`, calling `on_verdict` as each probe ends.
pub fn run_vm(
    plan: &Plan,
    guest: &Guest,
    keys: &[String],
    on_verdict: &mut dyn FnMut(&Verdict),
) -> anyhow::Result<LabReport> {
    if let Some(system) = plan.nix_conf.daemon.as_ref().and_then(|d| d.emulated) {
        anyhow::bail!(
            "`[nix] emulated = \"{}\"` runs on the host backend only so far\n  help: cargo xtask lab run --backend host {}",
            system.double,
            plan.lab.name
        );
    }
    set_up_lab(plan, guest)?;
    let verdicts = run_plan(plan, guest, keys, on_verdict)?;
    Ok(LabReport { lab: plan.lab.name.clone(), backend: "vm", verdicts, versions: None })
}

/// Resets `guest` for `plan` (fresh store, its nix.conf, links and
/// toolchains), before anything is registered: `lab run` and `lab shell`
/// start a lab in the VM the same way.
pub fn set_up_lab(plan: &Plan, guest: &Guest) -> anyhow::Result<()> {
    // The guest's binfmt_misc is the whole guest's, its agent's execs included.
    if let Some(system) = executor::own_system_entry(plan) {
        anyhow::bail!(
            "`{}` registers the guest's own system `{system}`, which would take over every exec in the VM, its agent's included, so no later lab could reset it; it runs on the host backend only (a private binfmt_misc per lab)\n  help: cargo xtask lab run --backend host {}",
            plan.lab.name,
            plan.lab.name
        );
    }
    let nixos = plan.nixos_simulation(
        &mut |program| {
            let command = format!("set -- {}\n{}", crate::quote::sh(program), crate::plan::SHARED_OBJECTS_COMMAND);
            Ok(executor::Executor::exec(guest, &command, std::time::Duration::from_secs(10))?.output)
        },
        // Built on the host into the cache the guest shares (boot_for made them).
        &mut |wrapper| binfmt_wrapper::ensure(wrapper),
    )?;
    let compilers = LabCompilers::of(plan, Some(&guest.suite))?;
    guest.reset(&plan.nix_conf.to_nix_conf(&nixos.extra_sandbox_paths), &nixos, &compilers)?;
    executor::register_compilers(&compilers, guest)
}

/// The kind of guest a plan needs: its host's architecture and CPU model
/// (`None`: qemu's `max`). Labs that name no host system, or an x86_64 one
/// (whose only CPU is `max`), share an x86_64 guest.
pub type GuestKind = (&'static str, Option<&'static str>);

/// The guest `plan` runs in.
pub fn guest_kind(plan: &Plan) -> GuestKind {
    match plan.lab.host_system {
        Some(h) if h.arch != "x86_64" => (plan.host_arch, plan.host_cpu.map(|c| c.name)),
        _ => ("x86_64", None),
    }
}

/// Builds or reuses the image, fetches the payloads `plans` run, makes the
/// toolchains their compile probes use, and boots the one guest of `kind`
/// that every such lab of a run shares.
pub fn boot_for(sh: &Shell, plans: &[&Plan], suite: &str, kind: GuestKind) -> anyhow::Result<Guest> {
    prereq::ensure(sh, &host_programs())?;
    let arch = image::GuestArch::of(kind.0)?;
    arch.qemu.ensure(sh)?;
    let image = image::ensure_suite(sh, suite, arch)?;
    let payloads = payload::ensure(sh, &crate::plan::payload_systems(plans))?;
    let accel = choose_accel(&image, &payloads)?;
    let mut options = BootOptions::new(accel);
    options.cpu_model = kind.1;
    // The compile probes' toolchains, and the guest suite's cross compilers
    // to time them against, made once and shared with the guest from the cache.
    if compilers::prepare(sh, plans, Some(suite))? {
        options.shared_cache = Some(payload::cache_dir()?);
    }
    // A simulated NixOS's P wrappers, built here, run in the guest from the cache.
    let mut wrappers = false;
    for plan in plans {
        for wrapper in plan.p_wrappers() {
            binfmt_wrapper::ensure(&wrapper)?;
            wrappers = true;
        }
    }
    if wrappers {
        options.shared_cache = Some(payload::cache_dir()?);
    }
    let guest = Guest::boot(&image, &payloads, &options).context("the VM could not boot")?;
    eprintln!(
        "crosslab: VM up in {:.1} s: Debian {} {} kernel {}, {}{}",
        guest.boot_time.as_secs_f64(),
        image.manifest.suite,
        image.manifest.arch,
        guest.kernel_release,
        accel.as_str().to_uppercase(),
        kind.1.map(|c| format!(", -cpu {c}")).unwrap_or_default()
    );
    Ok(guest)
}

/// The versions in the guest: its Nix, its qemu-user (as the host stack's
/// is read: [`crate::machine::qemu_user_in`]), its kernel.
pub fn versions(guest: &Guest, stack: &'static crate::provision::stack::Stack) -> crate::outcome::Versions {
    use crate::machine::version_in;
    let ask = |command: &str| {
        crate::run::executor::Executor::exec(guest, command, std::time::Duration::from_secs(20))
            .map(|e| version_in(&e.output))
            .unwrap_or_else(|_| "unknown".to_owned())
    };
    let (qemu, qemu_package) = crate::run::executor::Executor::exec(
        guest,
        &crate::machine::qemu_user_command(),
        std::time::Duration::from_secs(20),
    )
    .map(|e| crate::machine::parse_qemu_user(&e.output))
    .unwrap_or_else(|_| ("unknown".to_owned(), "unknown".to_owned()));
    crate::outcome::Versions {
        stack: stack.name,
        nix: ask("nix-build --version"),
        qemu,
        qemu_package,
        kernel: guest.kernel_release.clone(),
    }
}

/// The host backend's `--json` object plus `guest`: the kernel the probes
/// ran on and the accelerator.
pub fn to_json(plan: &Plan, report: &LabReport, guest: &Guest) -> anyhow::Result<serde_json::Value> {
    let mut value = serde_json::to_value(report.to_json_diagnosed(plan))?;
    value["guest"] = serde_json::json!({ "kernel": guest.kernel_release, "accel": guest.accel.as_str() });
    Ok(value)
}
