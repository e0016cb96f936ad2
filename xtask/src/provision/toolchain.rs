//! Target toolchains for the `compile` probe: Debian's native gcc, binutils
//! and libc for a target architecture, made into a Nix store path the way
//! nixpkgs makes a foreign binary one (autoPatchelf), built once and cached.
//!
//! From the cached Debian root ([`rootfs`], `--variant=extract`) a copy is
//! made whose ELF programs load their libraries from the store path (their
//! interpreter and RPATH rewritten by patchelf), with a `bin/cc` wrapper that
//! points gcc at its sysroot and links programs the same way, as nixpkgs'
//! cc-wrapper does. The tree is canonical as a store path is (modes 0444 /
//! 0555, mtime 1), and its NAR hash is computed once. A lab then binds the
//! tree read-only at its store path in its fresh store and registers it
//! (`nix-store --register-validity --hash-given`): nothing is copied per run,
//! and the build sees the toolchain because it is an input of the derivation
//! (`builtins.storePath`), not because of a sandbox path.
//!
//! The store path's name is fixed before its content (the content refers to
//! it): its hash part hashes the recipe, as an input-addressed path's does.
//!
//! A Rust toolchain (`language = "rust"`) is the same plus Debian's rustc,
//! which links through the C toolchain's `cc`.
//!
//! Layout: `<cache>/toolchains/<hash>-crosslab-<gcc|rust>-<suite>-<arch>/{tree/, toolchain.json}`.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use xshell::{cmd, Shell};

use crate::machine::elf::Elf;
use crate::provision::rootfs::{self, Recipe, Variant};
use crate::provision::{payload, prereq};
use crate::spec::Language;
use crate::systems::NixSystem;

/// Bump when the way a toolchain is made from its root changes.
const TOOLCHAIN_VERSION: u32 = 4;

/// What a toolchain root holds: gcc (the `gcc` package links `gcc` to the
/// suite's version), its assembler and linker, the C library's headers, and
/// dash for the `cc` wrapper.
pub const PACKAGES: &[&str] = &["gcc", "libc6-dev", "binutils", "dash"];

/// A toolchain ready to be bound into a lab's store.
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub systems: Vec<&'static NixSystem>,
    pub language: Language,
    /// This toolchain's directory in the cache (holds `tree/`).
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// `toolchain.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// `/nix/store/<hash>-crosslab-gcc-<suite>-<arch>`.
    pub store_path: String,
    /// sha256 of the tree's NAR serialisation, hex.
    pub nar_hash: String,
    pub nar_size: u64,
    pub suite: String,
    pub arch: String,
    /// The target's program interpreter, e.g. `/lib/ld-linux-aarch64.so.1`.
    pub interpreter: String,
    pub bytes: u64,
    pub build_secs: f64,
}

impl Toolchain {
    /// The tree bound at [`Manifest::store_path`].
    pub fn tree(&self) -> PathBuf {
        self.dir.join("tree")
    }

    /// The store path's name, `<hash>-crosslab-gcc-<suite>-<arch>`.
    pub fn store_name(&self) -> &str {
        self.manifest.store_path.trim_start_matches("/nix/store/")
    }

    /// This toolchain's lines for `nix-store --register-validity --hash-given`.
    pub fn registration(&self) -> String {
        format!("{}\nsha256:{}\n{}\n\n0\n", self.manifest.store_path, self.manifest.nar_hash, self.manifest.nar_size)
    }
}

/// The shell command that registers `toolchains` in a lab's store.
pub fn register_command(toolchains: &[Toolchain]) -> String {
    let text: String = toolchains.iter().map(Toolchain::registration).collect();
    format!("printf '%s' {} | nix-store --register-validity --hash-given", crate::quote::sh(&text))
}

/// The programs making a toolchain takes, besides building its roots.
pub fn build_programs() -> Vec<String> {
    ["nix-store"].map(str::to_owned).to_vec()
}

/// The command that runs the patchelf of Debian `suite` on this machine
/// ([`NixSystem::patchelf_suite`]): a cached Debian root of the host's
/// architecture, its program started through its own loader and libraries,
/// so the host's libc does not matter.
fn patchelf_command(sh: &Shell, suite: &str) -> anyhow::Result<Vec<String>> {
    let host = crate::systems::SYSTEMS
        .iter()
        .find(|s| s.qemu == std::env::consts::ARCH)
        .with_context(|| format!("no Debian architecture known for {}", std::env::consts::ARCH))?;
    let recipe = Recipe {
        name: format!("patchelf-{suite}-{}", host.debian_arch),
        suite: suite.to_owned(),
        arch: host.debian_arch.to_owned(),
        variant: Variant::Extract,
        packages: vec!["patchelf".to_owned()],
        dpkg_filters: Vec::new(),
        links: Vec::new(),
    };
    let tree = rootfs::ensure(sh, &recipe)?.tree();
    let patchelf = tree.join("usr/bin/patchelf");
    let interp = crate::machine::elf::read(&patchelf)
        .with_context(|| format!("failed to read `{}`", patchelf.display()))?
        .and_then(|e| e.interpreter)
        .with_context(|| format!("{suite}'s patchelf has no program interpreter"))?;
    // Merged /usr: an extracted root has no /lib64 -> usr/lib64 link.
    let loader = [tree.join(interp.trim_start_matches('/')), tree.join("usr").join(interp.trim_start_matches('/'))]
        .into_iter()
        .find(|p| p.exists())
        .with_context(|| format!("no {interp} in `{}`", tree.display()))?;
    let libs = format!("{}/usr/lib/{}", tree.display(), host.gcc_triple.replace("i686", "i386"));
    Ok(vec![loader.display().to_string(), "--library-path".into(), libs, patchelf.display().to_string()])
}

/// Every cache directory holding toolchains, relative to which [`Toolchain::dir`] is named.
pub fn cache_root() -> anyhow::Result<PathBuf> {
    Ok(payload::cache_dir()?.join("toolchains"))
}

/// The toolchain of every system in `systems`, making the missing ones
/// (one per Debian suite and architecture: armv5tel and armv6l share armel's).
pub fn ensure(sh: &Shell, wanted: &[(&'static NixSystem, Language)]) -> anyhow::Result<Vec<Toolchain>> {
    let mut out: Vec<Toolchain> = Vec::new();
    for &(system, language) in wanted {
        if let Some(t) = out.iter_mut().find(|t| {
            t.language == language
                && t.manifest.arch == system.debian_arch
                && system.debian_suites().any(|suite| suite == t.manifest.suite)
        }) {
            t.systems.push(system);
            continue;
        }
        out.push(ensure_one(sh, system, language)?);
    }
    Ok(out)
}

/// One suite's candidate for a system's toolchain: its recipe and where it is cached.
struct Candidate {
    recipe: Recipe,
    name: String,
    dir: PathBuf,
}

/// The toolchain of one system: the first of its suites (its row's
/// `debian_suite`, then `debian_fallback_suites`) already in the cache, else
/// made from the first suite whose index the mirror serves consistently.
/// A machine that fell back once keeps using the fallback's toolchain
/// without asking the mirror again.
fn ensure_one(sh: &Shell, system: &'static NixSystem, language: Language) -> anyhow::Result<Toolchain> {
    let mirror = payload::debian_mirror()?;
    let root = cache_root()?;
    let candidates: Vec<Candidate> = system
        .debian_suites()
        .map(|suite| {
            let recipe = recipe_of(system, language, suite);
            let name = store_name(system, language, &recipe, &mirror);
            let dir = root.join(&name);
            Candidate { recipe, name, dir }
        })
        .collect();
    let cached = |candidates: &[Candidate]| -> anyhow::Result<Option<Toolchain>> {
        for c in candidates {
            if let Some(manifest) = load(&c.dir)? {
                return Ok(Some(Toolchain { systems: vec![system], language, dir: c.dir.clone(), manifest }));
            }
        }
        Ok(None)
    };
    if let Some(t) = cached(&candidates)? {
        return Ok(t);
    }
    fs::create_dir_all(&root).with_context(|| format!("failed to create `{}`", root.display()))?;
    let _lock = payload::lock(&root.join(".build.lock"))?;
    // A run in parallel may have made one while this one waited.
    if let Some(t) = cached(&candidates)? {
        return Ok(t);
    }
    let mut candidates = candidates.into_iter().peekable();
    while let Some(c) = candidates.next() {
        let made = make(sh, system, &c.recipe, &root, &c.dir, &format!("/nix/store/{}", c.name));
        let error = match made {
            Ok(manifest) => return Ok(Toolchain { systems: vec![system], language, dir: c.dir, manifest }),
            Err(e) => e,
        };
        match (error.downcast_ref::<payload::InconsistentIndex>(), candidates.peek()) {
            (Some(bad), Some(next)) if bad.suite == c.recipe.suite => eprintln!(
                "crosslab: {}; making the {} toolchain from {} instead",
                bad.at(&mirror),
                system.double,
                next.recipe.suite
            ),
            _ => return Err(error).with_context(|| format!("failed to make the {} toolchain", system.double)),
        }
    }
    bail!("no Debian suite for {} in the systems table", system.double)
}

/// Debian's cross compiler for each of `systems` that this machine does not
/// run natively, so the `compile` probe can time the same program compiled
/// both ways: `gcc-<triple>` and `libc6-dev-<arch>-cross`, installed (as
/// root, through [`prereq::apt_install`], never removing or downgrading
/// anything) when missing. Without root the probe says
/// there is no cross compiler; nothing else depends on it.
pub fn ensure_cross_compilers(sh: &Shell, systems: &[&'static NixSystem]) -> anyhow::Result<()> {
    if std::env::consts::ARCH != "x86_64" {
        return Ok(()); // Debian's `*-cross` packages are named for an amd64 host here.
    }
    let mut missing: Vec<String> = Vec::new();
    for s in systems.iter().filter(|s| s.double != "x86_64-linux") {
        for package in [format!("gcc-{}", s.gcc_triple), format!("libc6-dev-{}-cross", s.debian_arch)] {
            let format = "-f=${Status}";
            let status = cmd!(sh, "dpkg-query -W {format} {package}").quiet().ignore_status().ignore_stderr().read()?;
            if status != "install ok installed" && !missing.contains(&package) {
                missing.push(package);
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "crosslab: no cross compilers to time the compile probes against (missing {}); install them as root to see the cross-vs-emulated ratio",
            missing.join(" ")
        );
        return Ok(());
    }
    eprintln!("crosslab: installing cross compilers to time the compile probes against: {}", missing.join(" "));
    // Simulated first like every install crosslab runs: never a removal or downgrade.
    let missing: Vec<&str> = missing.iter().map(String::as_str).collect();
    prereq::apt_install(sh, &missing).context("installing the host's cross compilers failed")
}

/// The Debian root a system's toolchain is made from, from Debian `suite`
/// (one of [`NixSystem::debian_suites`]).
pub fn recipe_of(system: &NixSystem, language: Language, suite: &str) -> Recipe {
    let mut packages: Vec<String> = PACKAGES.iter().map(|p| (*p).to_owned()).collect();
    let name = match language {
        Language::C => format!("toolchain-{suite}-{}", system.debian_arch),
        Language::Rust => {
            packages.push("rustc".to_owned());
            format!("toolchain-rust-{suite}-{}", system.debian_arch)
        }
    };
    Recipe {
        name,
        suite: suite.to_owned(),
        arch: system.debian_arch.to_owned(),
        variant: Variant::Extract,
        packages,
        dpkg_filters: Vec::new(),
        links: Vec::new(),
    }
}

/// The store path's name of the toolchain made from `recipe`
/// (`recipe_of(system, language, suite)`) fetched from `mirror`:
/// `<hash>-crosslab-<gcc|rust>-<suite>-<arch>`.
pub fn store_name(system: &NixSystem, language: Language, recipe: &Recipe, mirror: &str) -> String {
    let kind = match language {
        Language::C => "gcc",
        Language::Rust => "rust",
    };
    let hash = store_hash(recipe, mirror, system.patchelf_suite);
    format!("{hash}-crosslab-{kind}-{}-{}", recipe.suite, recipe.arch)
}

/// The store path's hash part: 160 bits of sha256 over the recipe (and the
/// patchelf that rewrites it), in Nix's base32.
fn store_hash(recipe: &Recipe, mirror: &str, patchelf_suite: &str) -> String {
    let text = format!("crosslab toolchain {TOOLCHAIN_VERSION}\n{}\npatchelf {patchelf_suite}\n", recipe.key(mirror));
    let digest = sha2::Sha256::digest(text.as_bytes());
    nix_base32(&digest[..20])
}

/// Nix's base32 (its alphabet and its least-significant-first order).
pub fn nix_base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdfghijklmnpqrsvwxyz";
    let len = (bytes.len() * 8).div_ceil(5);
    (0..len)
        .rev()
        .map(|n| {
            let (i, j) = (n * 5 / 8, n * 5 % 8);
            let low = u16::from(bytes[i]) >> j;
            let high = bytes.get(i + 1).map_or(0, |b| u16::from(*b) << (8 - j));
            ALPHABET[usize::from((low | high) & 0x1f)] as char
        })
        .collect()
}

fn load(dir: &Path) -> anyhow::Result<Option<Manifest>> {
    let path = dir.join("toolchain.json");
    let Ok(text) = fs::read_to_string(&path) else { return Ok(None) };
    let manifest = serde_json::from_str(&text).with_context(|| {
        format!("`{}` is damaged\n  help: remove `{}` and run again to remake it", path.display(), dir.display())
    })?;
    Ok(Some(manifest))
}

fn make(
    sh: &Shell,
    system: &NixSystem,
    recipe: &Recipe,
    cache: &Path,
    dir: &Path,
    store_path: &str,
) -> anyhow::Result<Manifest> {
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "the {} toolchain is not made yet, and making it (mmdebstrap, then a tree owned by root like a store path) needs root\n  help: run the same command once as root (sudo -E …); it is cached in {} after that",
            system.double,
            cache.display()
        );
    }
    prereq::ensure(sh, &build_programs())?;
    let root = rootfs::ensure(sh, recipe)?;
    eprintln!("crosslab: making the {} toolchain {store_path} from `{}` (once)", system.double, root.tree().display());
    let started = Instant::now();
    let work = tempfile::Builder::new()
        .prefix(".make-")
        .tempdir_in(cache)
        .with_context(|| format!("failed to create a temporary directory in `{}`", cache.display()))?;
    let tree = work.path().join("tree");
    let from = root.tree();
    cmd!(sh, "cp -a --reflink=auto {from} {tree}").quiet().run()?;
    let interpreter = patch_tree(sh, system, &tree, store_path)?;
    canonicalise(&tree)?;
    let (nar_hash, nar_size) = nar_hash(&tree)?;
    let manifest = Manifest {
        store_path: store_path.to_owned(),
        nar_hash,
        nar_size,
        suite: recipe.suite.clone(),
        arch: recipe.arch.clone(),
        interpreter,
        bytes: crate::provision::tree_bytes(&tree),
        build_secs: started.elapsed().as_secs_f64(),
    };
    fs::write(work.path().join("toolchain.json"), serde_json::to_string_pretty(&manifest)?)?;
    fs::rename(work.path(), dir).with_context(|| format!("failed to move the toolchain to `{}`", dir.display()))?;
    let _ = work.keep();
    eprintln!(
        "crosslab: {} toolchain made in {:.0} s: {} MB ({} MB as a NAR)",
        system.double,
        manifest.build_secs,
        manifest.bytes >> 20,
        manifest.nar_size >> 20
    );
    Ok(manifest)
}

/// Makes `tree` work at `store_path`: only regular files, directories and
/// relative links; every dynamically linked program loads the tree's own
/// loader and libraries; `bin/cc` compiles for and links against the tree.
/// Returns the target's program interpreter (as Debian names it).
fn patch_tree(sh: &Shell, system: &NixSystem, tree: &Path, store_path: &str) -> anyhow::Result<String> {
    // Merged /usr (trixie on): base-files makes /lib -> usr/lib and its
    // siblings, and an extracted root has no base-files.
    for dir in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        if !tree.join(dir).exists() && tree.join("usr").join(dir).is_dir() {
            std::os::unix::fs::symlink(Path::new("usr").join(dir), tree.join(dir))?;
        }
    }
    let mut programs = Vec::new();
    // Libraries with their own RUNPATH: given the programs' RPATH instead.
    let mut libraries = Vec::new();
    let mut interpreter = None;
    for entry in walkdir::WalkDir::new(tree).min_depth(1) {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type();
        if kind.is_symlink() {
            let target = fs::read_link(path)?;
            if let Ok(absolute) = target.strip_prefix("/") {
                // Inside the tree, not the machine's root: made relative.
                let depth = path.strip_prefix(tree)?.components().count() - 1;
                let relative: PathBuf = std::iter::repeat_n(Path::new(".."), depth).collect::<PathBuf>().join(absolute);
                fs::remove_file(path)?;
                std::os::unix::fs::symlink(&relative, path)?;
            }
        } else if kind.is_file() {
            match crate::machine::elf::read(path).with_context(|| format!("failed to read `{}`", path.display()))? {
                Some(Elf { interpreter: Some(interp), .. }) => {
                    if path.strip_prefix(tree)?.starts_with("usr/bin") && interpreter.is_none() {
                        interpreter = Some(interp);
                    }
                    programs.push(path.to_path_buf());
                }
                Some(Elf { runpath: true, .. }) => libraries.push(path.to_path_buf()),
                _ => {}
            }
        } else if !kind.is_dir() {
            // Device nodes, fifos: a store path holds none (extract leaves /dev's).
            fs::remove_file(path).with_context(|| format!("failed to remove `{}`", path.display()))?;
        }
    }
    let interpreter = interpreter.context("no dynamically linked program in the toolchain's usr/bin")?;
    let libc = walkdir::WalkDir::new(tree.join("usr/lib"))
        .into_iter()
        .chain(walkdir::WalkDir::new(tree.join("lib")))
        .filter_map(|e| e.ok())
        .find(|e| e.file_name() == "libc.so.6" && !e.file_type().is_dir())
        .context("no libc.so.6 in the toolchain")?;
    let multiarch =
        libc.path().parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or_default().to_owned();
    let loader = format!("{store_path}{interpreter}");
    let rpath = format!("{store_path}/lib/{multiarch}:{store_path}/usr/lib/{multiarch}");
    if !tree.join(interpreter.trim_start_matches('/')).exists() {
        bail!("the toolchain's programs ask for {interpreter}, which it does not hold");
    }
    // RPATH, not RUNPATH: it serves the libraries' own dependencies too.
    let patchelf = patchelf_command(sh, system.patchelf_suite)?;
    for chunk in programs.chunks(200) {
        let (program, args) = (&patchelf[0], &patchelf[1..]);
        cmd!(sh, "{program} {args...} --set-interpreter {loader} --force-rpath --set-rpath {rpath} {chunk...}")
            .quiet()
            .run()?;
    }
    for chunk in libraries.chunks(200) {
        let (program, args) = (&patchelf[0], &patchelf[1..]);
        cmd!(sh, "{program} {args...} --force-rpath --set-rpath {rpath} {chunk...}").quiet().run()?;
    }
    // `bin/rustc` beside `bin/cc`, where the build looks (bookworm's /bin is no link to usr/bin).
    if tree.join("usr/bin/rustc").exists() && !tree.join("bin/rustc").exists() {
        std::os::unix::fs::symlink("../usr/bin/rustc", tree.join("bin/rustc"))?;
    }
    let cc = tree.join("bin/cc");
    fs::write(
        &cc,
        format!(
            "#!{store_path}/bin/dash\n\
             # crosslab: gcc for its own sysroot, linking programs that load this store path's libc.\n\
             PATH={store_path}/usr/bin:$PATH\n\
             export PATH\n\
             exec {store_path}/usr/bin/gcc --sysroot={store_path} -Wl,--dynamic-linker={loader} -Wl,-rpath,{rpath} \"$@\"\n"
        ),
    )
    .with_context(|| format!("failed to write `{}`", cc.display()))?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&cc, fs::Permissions::from_mode(0o555))?;
    Ok(interpreter)
}

/// What Nix does to a path it makes valid (owner root, modes 0444 / 0555,
/// mtime 1), done once here, so registering the read-only bind has nothing
/// to change (it fails on a read-only file system if it has).
fn canonicalise(tree: &Path) -> anyhow::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for entry in walkdir::WalkDir::new(tree).contents_first(true) {
        let entry = entry?;
        let path = entry.path();
        // forky's apt leaves var/cache/apt/archives/partial to `_apt`.
        let meta = entry.metadata()?;
        if meta.uid() != 0 || meta.gid() != 0 {
            std::os::unix::fs::lchown(path, Some(0), Some(0))
                .with_context(|| format!("failed to change the owner of `{}`", path.display()))?;
        }
        if !entry.file_type().is_symlink() {
            let mode = entry.metadata()?.permissions().mode();
            let canonical = if entry.file_type().is_dir() || mode & 0o111 != 0 { 0o555 } else { 0o444 };
            fs::set_permissions(path, fs::Permissions::from_mode(canonical))
                .with_context(|| format!("failed to change the mode of `{}`", path.display()))?;
        }
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())?;
        let times = [libc::timespec { tv_sec: 1, tv_nsec: 0 }, libc::timespec { tv_sec: 1, tv_nsec: 0 }];
        // SAFETY: a valid C string and two timespecs.
        if unsafe { libc::utimensat(libc::AT_FDCWD, c_path.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) } != 0 {
            bail!("failed to set the time of `{}`: {}", path.display(), std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// sha256 (hex) and size of the tree's NAR serialisation, from `nix-store --dump`.
fn nar_hash(tree: &Path) -> anyhow::Result<(String, u64)> {
    let mut child = std::process::Command::new("nix-store")
        .arg("--dump")
        .arg(tree)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("could not execute `nix-store`")?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut hasher = sha2::Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = stdout.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    if !child.wait()?.success() {
        bail!("`nix-store --dump {}` failed", tree.display());
    }
    let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((hex, size))
}

#[cfg(test)]
mod tests {
    use super::nix_base32;

    #[test]
    fn nix_base32_is_nixs() {
        // `nix-hash --type sha1 --to-base32 <hex>` for sha1("") = da39a3ee….
        let sha1_empty = [
            0xda, 0x39, 0xa3, 0xee, 0x5e, 0x6b, 0x4b, 0x0d, 0x32, 0x55, 0xbf, 0xef, 0x95, 0x60, 0x18, 0x90, 0xaf, 0xd8,
            0x07, 0x09,
        ];
        assert_eq!(nix_base32(&sha1_empty), "143xibwh31h9bvxzalr0sjvbbvpa6ffs");
    }
}
