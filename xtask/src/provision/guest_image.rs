//! The VM backend's guest image, built once and cached: a Debian root
//! filesystem made by mmdebstrap as [`rootfs`] makes one (Debian's kernel,
//! nix-bin, qemu-user-static, util-linux) but not kept, written into an ext4 image with `mkfs.ext4 -d` (no loop
//! mount), plus the kernel and a base initramfs (static busybox and the
//! drivers for the disks and the command port) taken from that same tree.
//!
//! The guest is x86_64 or, for labs whose `host-system` is `aarch64-linux`,
//! arm64 ([`GuestArch`]). A foreign-architecture tree is made the same way,
//! with mmdebstrap's maintainer scripts run by qemu-user through a
//! binfmt_misc entry that exists only in a private user namespace
//! ([`mmdebstrap_foreign`]): nothing is registered on the host.
//!
//! Layout: `<cache>/vm/<suite>-<key>/{vmlinuz, base.cpio, root.img, image.json}`
//! (`<suite>-<debian arch>-<key>` for guests other than amd64)
//! where `key` hashes everything the recipe puts in: suite, mirror, packages,
//! dpkg filters, drivers, [`RECIPE_VERSION`]. The kernel version is whatever
//! Debian's `linux-image-amd64` resolved to at build time, recorded in
//! `image.json`. An image is built in a temporary directory beside it and
//! renamed into place: there is never a half-written image in the cache. The
//! cached image is never written to: VMs boot it with `snapshot=on`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use xshell::{cmd, Shell};

use crate::provision::cpio::Cpio;
use crate::provision::rootfs::{self, Recipe, Variant};
use crate::provision::{payload, prereq};

/// The Debian release the guest runs by default (the `host` stack): the one
/// whose nix-bin (2.8) and qemu-user-static the host backend's facts were
/// measured with. A Debian stack boots a guest of its own suite.
pub const SUITE: &str = "bookworm";

/// Bump when the recipe changes what an image holds without changing any
/// input below; it changes the cache key.
const RECIPE_VERSION: u32 = 1;

/// What the guest needs: a kernel with its modules ([`GuestArch::kernel_package`]
/// first), Nix, the FHS emulators (static, and qemu-user's dynamically linked
/// ones for `emulator = "dynamic"`), mount/unshare/setarch, modprobe, and a
/// static busybox for the initramfs.
pub const PACKAGES: &[&str] =
    &["linux-image-amd64", "nix-bin", "qemu-user-static", "qemu-user", "util-linux", "mount", "kmod", "busybox-static"];

/// A guest architecture: what differs between an x86_64 and an arm64 guest.
#[derive(Debug, PartialEq, Eq)]
pub struct GuestArch {
    /// `uname -m` in the guest, as [`crate::systems::HostSystem::arch`].
    pub arch: &'static str,
    pub debian_arch: &'static str,
    /// Debian's kernel metapackage for a VM of this architecture.
    pub kernel_package: &'static str,
    pub qemu: crate::provision::qemu_system::QemuSystem,
    /// `-M`, when the default machine is not the one (aarch64 has none).
    pub machine: Option<&'static str>,
    /// The kernel's console on that machine: the 16550 UART on a PC, the
    /// PL011 on qemu's arm `virt` board.
    pub console: &'static str,
}

/// Every guest architecture. Both boards put virtio devices on PCI (`virt`
/// has a generic PCIe host, built into Debian's arm64 kernel), so the
/// stage-1 drivers are the same.
pub const GUEST_ARCHES: &[GuestArch] = &[
    GuestArch {
        arch: "x86_64",
        debian_arch: "amd64",
        kernel_package: "linux-image-amd64",
        qemu: crate::provision::qemu_system::X86_64,
        machine: None,
        console: "ttyS0",
    },
    GuestArch {
        arch: "aarch64",
        debian_arch: "arm64",
        kernel_package: "linux-image-arm64",
        qemu: crate::provision::qemu_system::AARCH64,
        // GICv3: qemu's a64fx (and Arm's newer cores) say their CPU has the
        // GICv3 system-register interface, and Linux then uses it; with
        // `virt`'s default GICv2 that is an undefined instruction and the
        // kernel dies at boot (measured: "Oops - Undefined instruction" in
        // has_useable_gicv3_cpuif on `-cpu a64fx`).
        machine: Some("virt,gic-version=3"),
        console: "ttyAMA0",
    },
];

impl GuestArch {
    /// The guest architecture of `arch` (`std::env::consts::ARCH` naming).
    pub fn of(arch: &str) -> anyhow::Result<&'static GuestArch> {
        GUEST_ARCHES.iter().find(|g| g.arch == arch).with_context(|| {
            format!(
                "the vm backend has no {arch} guest; it boots {}",
                GUEST_ARCHES.iter().map(|g| g.arch).collect::<Vec<_>>().join(", ")
            )
        })
    }

    /// The x86_64 guest.
    pub fn x86_64() -> &'static GuestArch {
        &GUEST_ARCHES[0]
    }

    /// [`PACKAGES`] with this architecture's kernel.
    pub fn packages(&self) -> Vec<String> {
        PACKAGES
            .iter()
            .map(|p| if *p == "linux-image-amd64" { self.kernel_package } else { p })
            .map(str::to_owned)
            .collect()
    }
}

/// dpkg filters: documentation, and drivers for hardware a VM does not have
/// (most of the kernel's modules), stay out of the image.
const DPKG_FILTERS: &[&str] = &[
    "path-exclude=/usr/share/doc/*",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/lib/modules/*/kernel/drivers/*",
    "path-include=/lib/modules/*/kernel/drivers/virtio/*",
    "path-include=/lib/modules/*/kernel/drivers/block/*",
    "path-include=/lib/modules/*/kernel/drivers/char/*",
    "path-exclude=/lib/modules/*/kernel/sound/*",
];

/// Drivers stage 1 loads before it can mount the root disk and talk to the
/// host (Debian builds them all as modules); dependencies come from modules.dep.
pub const STAGE1_MODULES: &[&str] = &["virtio_pci", "virtio_blk", "virtio_console", "crc32c_generic", "ext4"];

/// Of [`STAGE1_MODULES`], those a newer kernel no longer has, and no longer
/// needs: ext4 and jbd2 compute crc32c through the crypto API's
/// `crc32c_generic` up to Linux 6.14, through the crc32c library since 6.15
/// ("ext4: switch to using the crc32c library"), which ext4's modules.dep
/// then pulls in itself. Debian forky's kernel is such a one.
const STAGE1_MODULES_IF_PRESENT: &[&str] = &["crc32c_generic"];

/// Where the base initramfs keeps the drivers, with an `order` file listing
/// them in load order.
pub const INITRD_MODULES_DIR: &str = "/lib/crosslab-modules";

/// A built guest image.
#[derive(Debug, Clone)]
pub struct Image {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// `image.json`: what an image holds and what building it cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub key: String,
    pub suite: String,
    pub mirror: String,
    /// Debian's architecture of the guest (images from before aarch64 guests are amd64).
    #[serde(default = "amd64")]
    pub arch: String,
    pub packages: Vec<String>,
    /// `uname -r` of the guest kernel, e.g. `6.1.0-50-amd64`.
    pub kernel_release: String,
    pub build_secs: f64,
    /// Size of root.img as the guest sees it, and what it takes on disk (sparse).
    pub root_image_bytes: u64,
    pub root_image_disk_bytes: u64,
}

fn amd64() -> String {
    "amd64".to_owned()
}

impl Image {
    /// The guest's architecture.
    pub fn guest_arch(&self) -> &'static GuestArch {
        GUEST_ARCHES.iter().find(|g| g.debian_arch == self.manifest.arch).unwrap_or(GuestArch::x86_64())
    }
    pub fn kernel(&self) -> PathBuf {
        self.dir.join("vmlinuz")
    }
    pub fn base_initrd(&self) -> PathBuf {
        self.dir.join("base.cpio")
    }
    pub fn root(&self) -> PathBuf {
        self.dir.join("root.img")
    }
}

/// The programs building an image takes (checked and, as root, installed).
pub fn build_programs() -> Vec<String> {
    // The keyring: mmdebstrap verifies the Debian archive with it (Ubuntu lacks it).
    ["mmdebstrap", "mkfs.ext4", "unshare", payload::DEBIAN_KEYRING].map(str::to_owned).to_vec()
}

/// The cached image of the default suite, building it first if there is none.
pub fn ensure(sh: &Shell) -> anyhow::Result<Image> {
    ensure_suite(sh, SUITE, GuestArch::x86_64())
}

/// The cached image of Debian `suite` for `guest`, building it first if there is none.
pub fn ensure_suite(sh: &Shell, suite: &str, guest: &'static GuestArch) -> anyhow::Result<Image> {
    if std::env::consts::ARCH != "x86_64" {
        bail!(
            "the vm backend boots an x86_64 Debian guest (linux-image-amd64, qemu-system-x86_64); this machine is {}\n  help: use --backend host",
            std::env::consts::ARCH
        );
    }
    let mirror = payload::debian_mirror()?;
    let key = recipe_key(suite, &mirror, guest);
    let vm_dir = payload::cache_dir()?.join("vm");
    fs::create_dir_all(&vm_dir).with_context(|| format!("failed to create `{}`", vm_dir.display()))?;
    let prefix = match guest.debian_arch {
        "amd64" => format!("{suite}-"),
        other => format!("{suite}-{other}-"),
    };
    let dir = vm_dir.join(format!("{prefix}{key}"));
    if let Some(image) = load(&dir)? {
        return Ok(image);
    }
    // Two runs at once: one builds, the other waits and then finds it.
    let _lock = payload::lock(&vm_dir.join(".build.lock"))?;
    if let Some(image) = load(&dir)? {
        return Ok(image);
    }
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "the vm backend's guest image is not built yet, and building it (mmdebstrap --mode=root) needs root\n  help: run once as root: sudo -E cargo xtask lab run --backend vm"
        );
    }
    let mut programs = build_programs();
    if guest.debian_arch != "amd64" {
        // mmdebstrap asks arch-test whether the foreign arch runs; qemu-user-static runs it.
        programs.extend(["arch-test".to_owned(), format!("qemu-{}-static", foreign_system(guest)?.qemu)]);
    }
    prereq::ensure(sh, &programs)?;
    eprintln!(
        "crosslab: building the VM image (Debian {suite} {}: {}); once, cached in {}",
        guest.debian_arch,
        guest.packages().join(" "),
        dir.display()
    );
    let started = Instant::now();
    let work = tempfile::Builder::new()
        .prefix(".build-")
        .tempdir_in(&vm_dir)
        .with_context(|| format!("failed to create a temporary directory in `{}`", vm_dir.display()))?;
    let manifest = build(sh, work.path(), suite, &mirror, &key, guest, started)
        .with_context(|| format!("failed to build the VM image in `{}`", work.path().display()))?;
    fs::rename(work.path(), &dir).with_context(|| format!("failed to move the VM image to `{}`", dir.display()))?;
    let _ = work.keep();
    eprintln!(
        "crosslab: VM image built in {:.0} s: kernel {}, root.img {} MB ({} MB on disk)",
        manifest.build_secs,
        manifest.kernel_release,
        manifest.root_image_bytes >> 20,
        manifest.root_image_disk_bytes >> 20
    );
    // Images of other recipes of this suite are not removed: another mirror
    // may still use them. Other suites' images are other stacks' (not earlier).
    let others: Vec<String> = fs::read_dir(&vm_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name().to_str().is_some_and(|n| {
                n.starts_with(&prefix)
                    && (guest.debian_arch != "amd64"
                        || !GUEST_ARCHES.iter().any(|g| n.contains(&format!("-{}-", g.debian_arch))))
            })
        })
        .map(|e| e.path())
        .filter(|p| p != &dir && p.join("image.json").is_file())
        .map(|p| p.display().to_string())
        .collect();
    if !others.is_empty() {
        eprintln!(
            "crosslab: images of earlier recipes are still cached; remove them if unused: rm -r {}",
            others.join(" ")
        );
    }
    Ok(Image { dir, manifest })
}

/// The `qemu-<arch>-static` links a guest of `suite` gets: those its
/// stack's root gets, where the suite ships no such names (forky).
fn static_name_links(suite: &str) -> Vec<(String, String)> {
    crate::provision::stack::Stack::of_suite(suite).and_then(|s| s.recipe()).map(|r| r.links).unwrap_or_default()
}

/// The hash naming an image: everything that decides what goes into it.
fn recipe_key(suite: &str, mirror: &str, guest: &GuestArch) -> String {
    let mut text = format!("recipe {RECIPE_VERSION}\nsuite {suite}\nmirror {mirror}\n");
    // amd64's key is what it was before there were other guests: its images stay valid.
    text.push_str(&guest.packages().join(" "));
    text.push('\n');
    for list in [DPKG_FILTERS, STAGE1_MODULES] {
        text.push_str(&list.join(" "));
        text.push('\n');
    }
    // Only when there are any, so that images without links keep their keys.
    let links = static_name_links(suite);
    if !links.is_empty() {
        let links: Vec<String> = links.iter().map(|(l, t)| format!("{l}->{t}")).collect();
        text.push_str(&format!("links {}\n", links.join(" ")));
    }
    if guest.debian_arch != "amd64" {
        text.push_str(&format!("arch {}\n", guest.debian_arch));
    }
    format!("{:016x}", crate::provision::rootfs::fnv1a64(text.as_bytes()))
}

fn load(dir: &Path) -> anyhow::Result<Option<Image>> {
    let path = dir.join("image.json");
    let Ok(text) = fs::read_to_string(&path) else { return Ok(None) };
    let manifest: Manifest = serde_json::from_str(&text).with_context(|| {
        format!(
            "`{}` is damaged\n  help: remove `{}` and run again to rebuild the image",
            path.display(),
            dir.display()
        )
    })?;
    Ok(Some(Image { dir: dir.to_path_buf(), manifest }))
}

fn build(
    sh: &Shell,
    work: &Path,
    suite: &str,
    mirror: &str,
    key: &str,
    guest: &GuestArch,
    started: Instant,
) -> anyhow::Result<Manifest> {
    let root = work.join("root");
    // The tree is only a step to the image, so it is not a cached root, but
    // it is made as one is.
    let recipe = Recipe {
        name: format!("vm-image-{suite}"),
        suite: suite.to_owned(),
        arch: guest.debian_arch.to_owned(),
        variant: Variant::Essential,
        packages: guest.packages(),
        // Every root's own filters come first in any case.
        dpkg_filters: DPKG_FILTERS
            .iter()
            .filter(|f| !rootfs::DPKG_FILTERS.contains(f))
            .map(|f| (*f).to_owned())
            .collect(),
        links: static_name_links(suite),
    };
    // INITRD=No: the kernel's postinst skips update-initramfs; the guest
    // boots our own small initramfs.
    if guest.debian_arch == "amd64" {
        rootfs::mmdebstrap(sh, &recipe, &root, mirror, &[("INITRD", "No")])?;
    } else {
        let system = foreign_system(guest)?;
        // mmdebstrap copies the host's emulator for the tree's own
        // architecture to that very path while it works and removes it after
        // ("File exists" for a link there); the guest runs its own
        // architecture natively and needs no such name.
        let own = system.fhs_interpreter();
        let recipe = Recipe { links: recipe.links.iter().filter(|(l, _)| *l != own).cloned().collect(), ..recipe };
        mmdebstrap_foreign(&recipe, &root, mirror, system)?;
    }

    let kernel_release = kernel_release(&root)?;
    fs::copy(root.join(format!("boot/vmlinuz-{kernel_release}")), work.join("vmlinuz"))
        .context("failed to copy the guest kernel")?;
    // A foreign guest's busybox runs on the host through qemu-user, directly
    // (no binfmt_misc): `qemu-aarch64-static busybox unxz`.
    let runner = match guest.debian_arch {
        "amd64" => None,
        _ => Some(foreign_system(guest)?.fhs_interpreter()),
    };
    let base = base_initrd(&root, &kernel_release, runner.as_deref())?;
    fs::write(work.join("base.cpio"), base).context("failed to write base.cpio")?;
    // The guest mounts a fresh tmpfs here for every lab.
    fs::create_dir_all(root.join("nix"))?;

    let bytes = crate::provision::tree_bytes(&root);
    let size = format!("{}M", (bytes + bytes / 8) / (1 << 20) + 256);
    let image = work.join("root.img");
    // `.read()`: mkfs.ext4 says "Creating regular file" on stdout even with -q.
    cmd!(sh, "mkfs.ext4 -q -F -O ^has_journal -L crosslab-root -d {root} {image} {size}")
        .quiet()
        .read()
        .context("`mkfs.ext4 -d` could not write the root filesystem image")?;
    fs::remove_dir_all(&root).with_context(|| format!("failed to remove `{}`", root.display()))?;

    let meta = fs::metadata(&image)?;
    use std::os::unix::fs::MetadataExt;
    let manifest = Manifest {
        key: key.to_owned(),
        suite: suite.to_owned(),
        mirror: mirror.to_owned(),
        arch: guest.debian_arch.to_owned(),
        packages: guest.packages(),
        kernel_release,
        build_secs: started.elapsed().as_secs_f64(),
        root_image_bytes: meta.len(),
        root_image_disk_bytes: meta.blocks() * 512,
    };
    fs::write(work.join("image.json"), serde_json::to_string_pretty(&manifest)?)?;
    Ok(manifest)
}

/// The system whose qemu-user runs a foreign guest's maintainer scripts.
fn foreign_system(guest: &GuestArch) -> anyhow::Result<&'static crate::systems::NixSystem> {
    crate::systems::SYSTEMS
        .iter()
        .find(|s| s.debian_arch == guest.debian_arch && s.uname == guest.arch)
        .with_context(|| format!("no system in the systems table is Debian's {}", guest.debian_arch))
}

/// The shell that runs inside the private user namespace: waits until the
/// parent has written its id maps, mounts a binfmt_misc of its own
/// (Linux 6.7 and later give each user namespace one), registers the
/// foreign system's static qemu with `F` (opened now, so it works inside
/// mmdebstrap's chroot), then runs mmdebstrap.
const FOREIGN_SH: &str = r#"while [ -z "$(cat /proc/self/uid_map)" ]; do sleep 0.05; done
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || exit 90
printf '%s' "$CROSSLAB_BINFMT" > /proc/sys/fs/binfmt_misc/register || exit 91
exec "$@"
"#;

/// mmdebstrap of a foreign-architecture tree, as root in a private user,
/// mount and pid namespace whose ids map to themselves, so the host's
/// binfmt_misc is never touched. (mmdebstrap cannot mount sysfs there and
/// says so; nothing in the guest's packages needs it while installing.)
fn mmdebstrap_foreign(
    recipe: &Recipe,
    tree: &Path,
    mirror: &str,
    system: &crate::systems::NixSystem,
) -> anyhow::Result<()> {
    let entry = format!(":crosslab-{}:M::{}:{}:{}:F", system.qemu, system.magic, system.mask, system.fhs_interpreter());
    let mut child = std::process::Command::new("unshare")
        .args(["--user", "--mount", "--pid", "--fork", "--mount-proc", "--", "sh", "-c", FOREIGN_SH, "sh"])
        .args(rootfs::mmdebstrap_args(recipe, tree, mirror))
        .env("INITRD", "No")
        .env("CROSSLAB_BINFMT", entry)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("could not execute `unshare`")?;
    let pid = child.id();
    // The namespace exists once unshare has made it; until then its maps are the host's.
    let own = fs::read_link("/proc/self/ns/user").ok();
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while fs::read_link(format!("/proc/{pid}/ns/user")).ok() == own {
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("`unshare --user` made no user namespace within 10 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    for file in ["uid_map", "gid_map"] {
        let path = format!("/proc/{pid}/{file}");
        if let Err(e) = fs::write(&path, "0 0 4294967295\n") {
            let _ = child.kill();
            return Err(e).with_context(|| format!("failed to write `{path}`"));
        }
    }
    let out = child.wait_with_output().context("failed to wait for mmdebstrap")?;
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stderr);
        if let Some(bad) = payload::inconsistent_index(&recipe.suite, &log) {
            return Err(bad.into());
        }
        bail!(
            "`mmdebstrap` ({} in a private binfmt_misc) exited with {}:\n{}",
            recipe.arch,
            out.status,
            crate::text::last_lines(&log, 20).join("\n")
        );
    }
    Ok(())
}

/// The release of the one kernel in `<root>/boot`.
fn kernel_release(root: &Path) -> anyhow::Result<String> {
    let boot = root.join("boot");
    let mut releases: Vec<String> = fs::read_dir(&boot)
        .with_context(|| format!("failed to read `{}`", boot.display()))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix("vmlinuz-").map(str::to_owned))
        .collect();
    match releases.len() {
        1 => Ok(releases.remove(0)),
        0 => bail!("the kernel package left no vmlinuz-* in `{}`", boot.display()),
        _ => bail!("several kernels in `{}`: {}", boot.display(), releases.join(", ")),
    }
}

/// The initramfs every boot starts from: static busybox and the drivers of
/// [`STAGE1_MODULES`] in load order. The init scripts come per run.
fn base_initrd(root: &Path, release: &str, runner: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let modules_dir = root.join("lib/modules").join(release);
    let dep_path = modules_dir.join("modules.dep");
    let deps = fs::read_to_string(&dep_path).with_context(|| format!("failed to read `{}`", dep_path.display()))?;
    let builtin = fs::read_to_string(modules_dir.join("modules.builtin")).unwrap_or_default();
    let order = load_order(&deps, &builtin, STAGE1_MODULES)?;

    let mut cpio = Cpio::new();
    for dir in ["bin", "dev", "proc", "sys", "newroot", "lib", INITRD_MODULES_DIR] {
        cpio.dir(dir);
    }
    let busybox = root.join("bin/busybox");
    let data =
        fs::read(&busybox).with_context(|| format!("failed to read `{}` (busybox-static)", busybox.display()))?;
    cpio.file("bin/busybox", 0o755, &data);
    let mut names = String::new();
    for rel in &order {
        let file = modules_dir.join(rel);
        let (name, data) = match Compression::of(rel) {
            // Debian 13's kernel compresses its modules (`.ko.xz`); busybox's
            // insmod reads plain ones, so they go in decompressed, by the
            // image's own static busybox.
            Some(c) => {
                let mut command = match runner {
                    Some(qemu) => {
                        let mut c = std::process::Command::new(qemu);
                        c.arg(&busybox);
                        c
                    }
                    None => std::process::Command::new(&busybox),
                };
                let out = command
                    .args([c.applet(), "-c"])
                    .arg(&file)
                    .output()
                    .with_context(|| format!("could not execute `{}`", busybox.display()))?;
                if !out.status.success() {
                    bail!(
                        "`busybox {} -c {}` failed: {}",
                        c.applet(),
                        file.display(),
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                (rel.trim_end_matches(c.suffix()), out.stdout)
            }
            None => (rel.as_str(), fs::read(&file).with_context(|| format!("failed to read `{}`", file.display()))?),
        };
        let name = name.rsplit('/').next().unwrap_or(name);
        cpio.file(&format!("{INITRD_MODULES_DIR}/{name}"), 0o644, &data);
        names.push_str(name);
        names.push('\n');
    }
    cpio.file(&format!("{INITRD_MODULES_DIR}/order"), 0o644, names.as_bytes());
    Ok(cpio.finish())
}

/// How a kernel module file is compressed, when busybox can undo it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    Xz,
    Gzip,
}

impl Compression {
    /// The compression of a module path, `None` for a plain `.ko`.
    fn of(path: &str) -> Option<Compression> {
        [Compression::Xz, Compression::Gzip].into_iter().find(|c| path.ends_with(c.suffix()))
    }
    fn suffix(self) -> &'static str {
        match self {
            Compression::Xz => ".xz",
            Compression::Gzip => ".gz",
        }
    }
    /// busybox's applet that decompresses it.
    fn applet(self) -> &'static str {
        match self {
            Compression::Xz => "unxz",
            Compression::Gzip => "gunzip",
        }
    }
}

/// The module files (paths relative to the modules directory) that load
/// `wanted`, dependencies first, given `modules.dep` text. Built-in modules
/// need nothing; unknown ones and ones compressed in a way busybox cannot
/// undo (zstd) are errors.
pub fn load_order(modules_dep: &str, modules_builtin: &str, wanted: &[&str]) -> anyhow::Result<Vec<String>> {
    let norm = |s: &str| s.replace('-', "_");
    let name_of = |path: &str| norm(path.rsplit('/').next().unwrap_or(path).split(".ko").next().unwrap_or(path));
    let table: Vec<(String, String, Vec<String>)> = modules_dep
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(m, d)| (name_of(m), m.trim().to_owned(), d.split_whitespace().map(str::to_owned).collect()))
        .collect();
    let is_builtin = |name: &str| modules_builtin.lines().any(|l| name_of(l) == name);
    let mut order: Vec<String> = Vec::new();
    fn visit(path: &str, table: &[(String, String, Vec<String>)], order: &mut Vec<String>) -> anyhow::Result<()> {
        if order.iter().any(|p| p == path) {
            return Ok(());
        }
        if !path.ends_with(".ko") && Compression::of(path).is_none() {
            bail!("`{path}` is compressed in a way busybox cannot undo; the initramfs's busybox insmod needs plain .ko files");
        }
        let deps = table.iter().find(|(_, p, _)| p == path).map(|(_, _, d)| d.clone()).unwrap_or_default();
        // modules.dep lists a module's dependencies nearest first: load from the far end.
        for dep in deps.iter().rev() {
            visit(dep, table, order)?;
        }
        order.push(path.to_owned());
        Ok(())
    }
    for want in wanted {
        let want = norm(want);
        match table.iter().find(|(n, _, _)| *n == want) {
            Some((_, path, _)) => visit(path, &table, &mut order)?,
            None if is_builtin(&want) => {}
            None if STAGE1_MODULES_IF_PRESENT.contains(&want.as_str()) => {}
            None => bail!("the guest kernel has no module `{want}` (not in modules.dep nor modules.builtin)"),
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::{load_order, static_name_links};

    #[test]
    fn a_forky_guest_gets_the_static_names_its_packages_lack() {
        let forky = static_name_links("forky");
        assert!(forky.contains(&("/usr/bin/qemu-aarch64-static".to_owned(), "qemu-aarch64".to_owned())), "{forky:?}");
        assert!(static_name_links("bookworm").is_empty() && static_name_links("trixie").is_empty());
    }

    #[test]
    fn dependencies_load_first_and_once() {
        let dep = "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n\
                   kernel/lib/crc16.ko:\nkernel/fs/mbcache.ko:\nkernel/fs/jbd2/jbd2.ko:\n\
                   kernel/drivers/virtio/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n\
                   kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko\n\
                   kernel/drivers/virtio/virtio.ko:\nkernel/arch/x86/crypto/crc32c-intel.ko:\n";
        let order =
            load_order(dep, "kernel/fs/binfmt_misc.ko\n", &["virtio_blk", "ext4", "crc32c_intel", "binfmt_misc"])
                .unwrap();
        assert_eq!(
            order,
            [
                "kernel/drivers/virtio/virtio.ko",
                "kernel/drivers/virtio/virtio_ring.ko",
                "kernel/drivers/virtio/virtio_blk.ko",
                "kernel/fs/jbd2/jbd2.ko",
                "kernel/fs/mbcache.ko",
                "kernel/lib/crc16.ko",
                "kernel/fs/ext4/ext4.ko",
                "kernel/arch/x86/crypto/crc32c-intel.ko",
            ]
        );
        assert!(load_order(dep, "", &["nope"]).unwrap_err().to_string().contains("no module `nope`"));
        // A kernel whose ext4 uses the crc32c library has no crc32c_generic to load.
        assert_eq!(load_order(dep, "", &["crc32c_generic", "virtio_blk"]).unwrap().len(), 3);
    }

    #[test]
    fn xz_and_gzip_modules_are_taken_and_zstd_ones_refused() {
        // Debian 13's modules.dep names `.ko.xz` files.
        let dep = "kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko.gz
                   kernel/drivers/virtio/virtio.ko.gz:
kernel/fs/ext4/ext4.ko.zst:
";
        let order = load_order(dep, "", &["virtio_blk"]).unwrap();
        assert_eq!(order, ["kernel/drivers/virtio/virtio.ko.gz", "kernel/drivers/block/virtio_blk.ko.xz"]);
        let err = load_order(dep, "", &["ext4"]).unwrap_err().to_string();
        assert!(err.contains("ext4.ko.zst") && err.contains("busybox cannot undo"), "{err}");
    }
}
