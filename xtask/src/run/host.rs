//! The host backend: a lab runs on this machine inside its own user, mount
//! and PID namespaces, so it never changes the host.
//!
//! - binfmt_misc is per user namespace on kernels ≥ 6.7: the lab mounts a
//!   private instance and registers there; the host's entries stay as they are.
//! - The lab pivots into a root of its own: a tmpfs with the stack's root
//!   filesystem (the host's `/`, or a cached Debian root) bound read-only
//!   into it, so it needs nothing of the host's (no `/nix`, no `/etc/nix`)
//!   and cannot write to it. `/nix`, `/run` and `/tmp` are fresh tmpfs
//!   mounts: every run has an empty Nix store and its own `nix.conf`, and
//!   every run really builds.
//! - The namespaces live as long as one "holder" process, PID 1 of the lab's
//!   PID namespace, which waits for its stdin to close. When crosslab exits,
//!   however it exits (even SIGKILL), the pipe closes, the holder ends, the
//!   kernel kills every process of the lab and drops its mounts. Nothing is
//!   written to the host's disk.
//!
//! Probes enter the namespaces with `nsenter` and run under `/bin/sh -c`.
//! The user namespace's uid/gid maps are written from outside (see
//! `idmap.rs`), which keeps `setgroups` allowed for Nix's sandbox.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::lab_paths::{LAB_CACHE_DIR, LAB_DIR, NIX_CONF_DIR, PAYLOADS_DIR, PROBE_PATH, TOOLCHAINS_DIR};
use crate::outcome::Execution;
use crate::run::holder::{self, Holder};
use crate::run::idmap::IdMap;
use crate::run::process::run_bounded;

/// What the holder sets up before the first probe.
pub struct Setup {
    /// The root filesystem the lab's root is an overlay of: `/` for the host
    /// stack, a cached Debian root for the others.
    pub lower: std::path::PathBuf,
    /// The payload cache on the host (`<cache>/payloads`).
    pub payloads: std::path::PathBuf,
    /// nix.conf text for the lab.
    pub nix_conf: String,
    /// Links to create, `(link, target)`, e.g. `/run/binfmt/aarch64-linux`
    /// → `/usr/bin/qemu-aarch64-static` when a NixOS host is simulated.
    pub links: Vec<(String, String)>,
    /// Register in the host's global binfmt_misc instead of a private one
    /// (`--allow-global`, for kernels without binfmt_misc namespaces).
    pub global_binfmt: bool,
    /// The host's Nix when it lives in /nix/store (the official installer),
    /// which the lab's fresh /nix would otherwise hide.
    pub host_nix: Option<HostNix>,
    /// crosslab's cache, bound read-only at [`crate::lab_paths::LAB_CACHE_DIR`] for the
    /// compile probes' toolchains and cross compilers.
    pub cache: Option<std::path::PathBuf>,
    /// Trees of [`Setup::cache`] to bind read-only into the lab's fresh
    /// store: `(store path name, tree relative to the cache)` pairs (the
    /// compile probes' toolchains). Registering them is the caller's.
    pub store_trees: Vec<(String, String)>,
    /// Executables to write, `(path, content)`, under [`LAB_DIR`].
    pub files: Vec<(String, String)>,
}

/// A Nix installed into /nix/store: its `bin` directory and the store paths
/// it needs to run (its closure), which the lab mounts read-only into its
/// own fresh store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNix {
    /// The store path of the Nix package, `/nix/store/<hash>-nix-<version>`.
    pub package: std::path::PathBuf,
    pub bin: std::path::PathBuf,
    pub closure: Vec<String>,
}

impl HostNix {
    /// The `nix-build` on PATH (or, when PATH has none, as under `sudo`, in
    /// the installer's default profile), if it resolves into /nix/store; its
    /// closure from the host's own `nix-store --query --requisites`.
    /// Looked up once per crosslab run: every lab of a `lab matrix` uses it.
    pub fn find() -> anyhow::Result<Option<HostNix>> {
        static FOUND: std::sync::OnceLock<Result<Option<HostNix>, String>> = std::sync::OnceLock::new();
        FOUND.get_or_init(|| Self::look_up().map_err(|e| format!("{e:#}"))).clone().map_err(anyhow::Error::msg)
    }

    fn look_up() -> anyhow::Result<Option<HostNix>> {
        let Some(nix_build) = std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .chain([std::path::PathBuf::from(crate::machine::INSTALLER_PROFILE_BIN)])
            .map(|d| d.join("nix-build"))
            .find(|p| p.is_file())
        else {
            return Ok(None);
        };
        let real = std::fs::canonicalize(&nix_build)
            .with_context(|| format!("failed to resolve `{}`", nix_build.display()))?;
        let Ok(in_store) = real.strip_prefix("/nix/store") else {
            return Ok(None);
        };
        let Some(name) = in_store.components().next() else {
            return Ok(None);
        };
        let package = std::path::Path::new("/nix/store").join(name);
        let bin = real.parent().map(std::path::Path::to_path_buf).unwrap_or_else(|| package.join("bin"));
        let out = Command::new(bin.join("nix-store"))
            .args(["--query", "--requisites"])
            .arg(&package)
            .output()
            .with_context(|| format!("could not execute `{}`", bin.join("nix-store").display()))?;
        if !out.status.success() {
            bail!(
                "`nix-store --query --requisites {}` failed: {}\n  help: crosslab mounts the closure of the host's Nix into each lab's fresh store; check that `nix-store --verify` is happy",
                package.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let closure = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("/nix/store/"))
            .filter(|n| !n.is_empty() && !n.contains('/'))
            .map(str::to_owned)
            .collect();
        Ok(Some(HostNix { package, bin, closure }))
    }
}

/// The running namespaces of one lab.
pub struct HostLab {
    holder: Holder,
    /// Kept open: closing it ends the lab.
    stdin: Option<std::fs::File>,
    /// PID (in the host's PID namespace) of the lab's PID 1.
    ns_pid: u32,
    in_user_ns: bool,
    /// The environment probes run with: [`probe_env`], and when the host's
    /// Nix runs from the store, its `bin` first on PATH and where it finds
    /// itself (NIX_BIN_DIR, NIX_LIBEXEC_DIR: its build hook lives there).
    env: Vec<(&'static str, String)>,
}

/// The environment every probe command sees.
pub fn probe_env() -> Vec<(&'static str, String)> {
    vec![
        ("PATH", PROBE_PATH.into()),
        ("HOME", format!("{LAB_DIR}/home")),
        ("TMPDIR", "/tmp".into()),
        ("LANG", "C.UTF-8".into()),
        ("NIX_CONF_DIR", NIX_CONF_DIR.into()),
        ("NIX_USER_CONF_FILES", format!("{NIX_CONF_DIR}/user.conf")),
        ("XDG_CONFIG_HOME", format!("{LAB_DIR}/home/.config")),
        ("XDG_CACHE_HOME", format!("{LAB_DIR}/home/.cache")),
        ("XDG_DATA_HOME", format!("{LAB_DIR}/home/.local/share")),
        ("NIX_REMOTE", "local".into()),
        ("NIX_PATH", String::new()),
        ("CROSSLAB_PAYLOADS", PAYLOADS_DIR.into()),
        ("CROSSLAB_TOOLCHAINS", TOOLCHAINS_DIR.into()),
    ]
}

/// The steps of the lab's holder ([`holder`]): its namespaces, then its root,
/// pivoted into, then what `setup` writes there.
///
/// The root is a tmpfs holding the stack's root filesystem (`/` for the host
/// stack) entry by entry, bound read-only, beside the lab's own `/nix`
/// (which a fresh machine does not have), `/run` and `/tmp`. An overlay of
/// `/` would be one mount, but the kernel refuses to clone a lower layer
/// with locked submounts, which `/` always has in a user namespace; one
/// recursive bind of `/` would leave the fresh mounts nothing to mount on
/// where `/` has no `/nix`. The root is staged on the namespace's `/tmp`;
/// what the staging tmpfs may hide (the lower root, the payloads,
/// crosslab's cache, the host's store) is read through descriptors opened
/// first.
fn plan(setup: &Setup) -> anyhow::Result<holder::Plan> {
    use holder::{c_path, Step};
    let mut plan = holder::Plan::default();
    if !setup.global_binfmt {
        plan.push(Step::UnshareUser, "making the lab's user namespace");
        plan.push(Step::AwaitIdMaps, "waiting for the user namespace's uid/gid maps");
    }
    plan.push(Step::UnshareMountPid, "making the lab's mount and PID namespaces");
    plan.push(Step::ForkPid1, "forking the lab's PID 1");
    // Opened in the lab's mount namespace: the kernel binds only from a
    // mount of the caller's own namespace. The child has no descriptors
    // above 2 here, so these are 3, 4, 5, 6.
    let mut fds = Vec::new();
    let mut open = |path: &Path, what: &str| -> anyhow::Result<String> {
        let fd = 3 + fds.len() as std::os::fd::RawFd;
        plan.push(Step::Open { path: c_path(path)?, fd }, format!("opening {what} `{}`", path.display()));
        fds.push(fd);
        Ok(format!("/proc/self/fd/{fd}"))
    };
    let lower = open(&setup.lower, "the stack's root")?;
    let payloads = open(&setup.payloads, "the payload cache")?;
    let host_store = match &setup.host_nix {
        Some(_) => Some(open(Path::new("/nix/store"), "the host's Nix store")?),
        None => None,
    };
    let cache = match &setup.cache {
        Some(dir) => Some(open(dir, "crosslab's cache")?),
        None => None,
    };

    let r = "/tmp";
    let at = |path: &str| c_path(format!("{r}{path}"));
    let tmpfs = |plan: &mut holder::Plan, name: &str, path: &str, mode: &str| -> anyhow::Result<()> {
        let step = Step::Tmpfs { name: c_path(name)?, at: at(path)?, options: c_path(format!("mode={mode}"))? };
        plan.push(step, format!("mounting a tmpfs at the lab's `{}`", if path.is_empty() { "/" } else { path }));
        Ok(())
    };
    let mkdir = |plan: &mut holder::Plan, path: &str, existing_ok: bool| -> anyhow::Result<()> {
        plan.push(Step::Mkdir { path: at(path)?, existing_ok }, format!("making the lab's `{path}`"));
        Ok(())
    };
    let bind = |plan: &mut holder::Plan, from: &str, what: &str, path: &str, recursive: bool, read_only: bool| {
        let step = Step::Bind { from: c_path(from)?, at: at(path)?, recursive, read_only };
        let how = if read_only { " read-only" } else { "" };
        plan.push(step, format!("binding {what}{how} at the lab's `{path}`"));
        anyhow::Ok(())
    };

    tmpfs(&mut plan, "crosslab-root", "", "0755")?;
    for d in ["/nix", "/run", "/tmp", "/proc", "/sys", "/dev", "/.old"] {
        mkdir(&mut plan, d, false)?;
    }
    // Every other top-level entry of the lower root, read-only: a directory
    // is bound with what is mounted below it, a link (/bin -> usr/bin) copied.
    let read_lower = || format!("failed to read the stack's root `{}`", setup.lower.display());
    let mut entries: Vec<_> =
        std::fs::read_dir(&setup.lower).with_context(read_lower)?.collect::<Result<_, _>>().with_context(read_lower)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if ["nix", "run", "tmp", "proc", "sys", "dev", ".old"].contains(&name) {
            continue;
        }
        let path = format!("/{name}");
        let kind = entry.file_type().with_context(read_lower)?;
        if kind.is_symlink() {
            let target = std::fs::read_link(entry.path()).with_context(read_lower)?;
            let step = Step::Symlink { target: c_path(&target)?, link: at(&path)? };
            plan.push(step, format!("linking the lab's `{path}`"));
        } else if kind.is_dir() {
            mkdir(&mut plan, &path, false)?;
            bind(&mut plan, &format!("{lower}/{name}"), &format!("the stack's `{path}`"), &path, true, true)?;
        }
    }
    tmpfs(&mut plan, "crosslab-nix", "/nix", "0755")?;
    // Store paths the lab's store starts with, read-only: the host Nix's
    // closure (through the host's store) and the cached store trees.
    let closure = setup.host_nix.iter().flat_map(|n| &n.closure).map(|name| {
        let host = Path::new("/nix/store").join(name);
        (name, host, format!("{}/{name}", host_store.as_deref().unwrap_or_default()))
    });
    let trees = setup.store_trees.iter().map(|(name, tree)| {
        let dir = setup.cache.as_deref().unwrap_or(Path::new("/nonexistent"));
        (name, dir.join(tree), format!("{}/{tree}", cache.as_deref().unwrap_or_default()))
    });
    let store: Vec<_> = closure.chain(trees).collect();
    if !store.is_empty() {
        mkdir(&mut plan, "/nix/store", false)?;
    }
    for (name, host, through) in store {
        let path = format!("/nix/store/{name}");
        if host.is_dir() {
            mkdir(&mut plan, &path, false)?;
        } else {
            plan.push(Step::Touch { path: at(&path)? }, format!("making the lab's `{path}`"));
        }
        bind(&mut plan, &through, &format!("`{}`", host.display()), &path, false, true)?;
    }
    tmpfs(&mut plan, "crosslab-run", "/run", "0755")?;
    for d in ["", "/payloads", "/etc", "/etc/nix", "/home"] {
        mkdir(&mut plan, &format!("{LAB_DIR}{d}"), true)?;
    }
    bind(&mut plan, &payloads, "the payload cache", PAYLOADS_DIR, false, true)?;
    if let Some(cache) = &cache {
        mkdir(&mut plan, LAB_CACHE_DIR, false)?;
        bind(&mut plan, cache, "crosslab's cache", LAB_CACHE_DIR, false, true)?;
    }
    plan.push(Step::Close { fds }, "closing the descriptors of the host's files");
    tmpfs(&mut plan, "crosslab-tmp", "/tmp", "1777")?;
    bind(&mut plan, "/dev", "`/dev`", "/dev", true, false)?;
    bind(&mut plan, "/sys", "`/sys`", "/sys", true, false)?;
    plan.push(Step::Proc { at: at("/proc")? }, "mounting the lab's /proc");
    let binfmt = crate::systems::BINFMT_DIR;
    let what = if setup.global_binfmt { "mounting the host's binfmt_misc" } else { "mounting a private binfmt_misc" };
    plan.push(
        Step::Binfmt { at: at(binfmt)?, register: at(&format!("{binfmt}/register"))?, global: setup.global_binfmt },
        what,
    );
    plan.push(
        Step::Pivot { root: c_path(r)?, old: c_path(".old")?, old_abs: c_path("/.old")? },
        "pivoting into the lab's root",
    );

    // The lab's root is `/` now: paths are the lab's.
    let parents = |plan: &mut holder::Plan, path: &str| -> anyhow::Result<()> {
        for (i, _) in path.match_indices('/').skip(1) {
            let dir = &path[..i];
            plan.push(Step::Mkdir { path: c_path(dir)?, existing_ok: true }, format!("making the lab's `{dir}`"));
        }
        Ok(())
    };
    let write = |plan: &mut holder::Plan, path: &str, content: &str, mode| -> anyhow::Result<()> {
        parents(plan, path)?;
        let step = Step::Write { path: c_path(path)?, content: content.as_bytes().to_vec(), mode };
        plan.push(step, format!("writing the lab's `{path}`"));
        Ok(())
    };
    write(&mut plan, &format!("{NIX_CONF_DIR}/nix.conf"), &setup.nix_conf, 0o644)?;
    write(&mut plan, &format!("{NIX_CONF_DIR}/user.conf"), "", 0o644)?;
    for (link, target) in &setup.links {
        parents(&mut plan, link)?;
        let step = Step::Symlink { target: c_path(target)?, link: c_path(link)? };
        plan.push(step, format!("linking the lab's `{link}`"));
    }
    // The lab's files: executable, read-only.
    for (path, content) in &setup.files {
        write(&mut plan, path, content, 0o555)?;
    }
    if setup.global_binfmt {
        // PID 1 becomes a shell that saves the host's entries and clears
        // them, then restores them once stdin closes, however crosslab ends.
        let script = format!("{GLOBAL_SAVE}\necho ready\nread -r _ || true\n{GLOBAL_RESTORE}");
        // Its command line starts with its name (see [`holder::PID1_NAME`]).
        let argv = vec![c_path(holder::PID1_NAME.to_str()?)?, c_path("-c")?, c_path(script)?];
        let envp = vec![c_path("PATH=/usr/sbin:/usr/bin:/sbin:/bin")?, c_path(format!("CROSSLAB_LAB_DIR={LAB_DIR}"))?];
        plan.push(
            Step::Exec { program: c_path("/bin/sh")?, argv, envp },
            "executing the holder's shell (/bin/sh) in the lab's root",
        );
    }
    Ok(plan)
}

/// `--allow-global`: saves every entry of the host's binfmt_misc, then clears
/// them all so the lab sees only its own registrations.
const GLOBAL_SAVE: &str = r#"
b=/proc/sys/fs/binfmt_misc; saved=$CROSSLAB_LAB_DIR/binfmt-saved
mkdir -p "$saved"
cat "$b/status" > "$saved/.status"
for e in "$b"/*; do
  n=${e##*/}
  case "$n" in register|status) continue;; esac
  cat "$e" > "$saved/$n"
  echo -1 > "$e"
done
"#;

/// `--allow-global`: puts back exactly the saved entries (and the global
/// enabled/disabled state). It runs in the holder after its stdin closes, so
/// it runs however crosslab ends.
const GLOBAL_RESTORE: &str = r#"
b=/proc/sys/fs/binfmt_misc; saved=$CROSSLAB_LAB_DIR/binfmt-saved
for e in "$b"/*; do
  case "${e##*/}" in register|status) continue;; esac
  echo -1 > "$e" || true
done
for f in "$saved"/*; do
  [ -e "$f" ] || continue
  n=${f##*/}
  interp=$(sed -n 's/^interpreter //p' "$f")
  flags=$(sed -n 's/^flags: //p' "$f")
  offset=$(sed -n 's/^offset //p' "$f")
  magic=$(sed -n 's/^magic //p' "$f" | sed 's/../\\x&/g')
  mask=$(sed -n 's/^mask //p' "$f" | sed 's/../\\x&/g')
  ext=$(sed -n 's/^extension \.//p' "$f")
  if [ -n "$ext" ]; then
    line=":$n:E::$ext::$interp:$flags"
  else
    line=":$n:M:$offset:$magic:$mask:$interp:$flags"
  fi
  printf '%s' "$line" > "$b/register" || echo "crosslab: could not restore binfmt_misc entry $n: $line" >&2
  if head -n 1 "$f" | grep -qx disabled; then echo 0 > "$b/$n"; fi
done
if grep -qx disabled "$saved/.status"; then echo 0 > "$b/status"; else echo 1 > "$b/status"; fi
"#;

impl HostLab {
    /// Creates the lab's namespaces and waits until they are ready.
    pub fn start(setup: &Setup) -> anyhow::Result<HostLab> {
        let in_user_ns = !setup.global_binfmt;
        let id_map = if in_user_ns { Some(IdMap::for_current_user()?) } else { None };
        let plan = plan(setup)?;
        let mut holder = Holder::spawn(&plan).context("could not fork the lab's holder")?;
        let pid = holder.id();
        let stdin = holder.stdin.take();
        let mut env = probe_env();
        if let Some(nix) = &setup.host_nix {
            env.retain(|(k, _)| *k != "PATH");
            env.push(("PATH", format!("{}:{PROBE_PATH}", nix.bin.display())));
            env.push(("NIX_BIN_DIR", nix.bin.display().to_string()));
            env.push(("NIX_LIBEXEC_DIR", nix.package.join("libexec").display().to_string()));
        }
        let mut stdout = BufReader::new(holder.stdout.take().expect("piped"));
        // Owned by `lab` from here: on an error below its drop closes stdin,
        // which ends the holder wherever it is.
        let mut lab = HostLab { holder, stdin, ns_pid: 0, in_user_ns, env };
        let mut line = String::new();
        if let Some(id_map) = &id_map {
            stdout.read_line(&mut line).context("failed to read from the lab's holder")?;
            if line.trim() == "unshared" {
                id_map.apply(pid)?;
                lab.stdin.as_mut().expect("piped").write_all(b"go\n").context("the lab's holder died early")?;
                line.clear();
            }
        }
        if line.is_empty() {
            stdout.read_line(&mut line).context("failed to read from the lab's holder")?;
        }
        if line.trim() != "ready" {
            let failed = holder::parse_error(&line).and_then(|(step, errno)| Some((plan.step(step)?, errno)));
            let mut err = String::new();
            if let Some(mut e) = lab.holder.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let status = lab.holder.wait().ok();
            match failed {
                Some(((_, true), _)) => bail!(
                    "cannot mount a private binfmt_misc: this kernel has no binfmt_misc namespaces (they came in Linux 6.7)\n  help: run on Linux ≥ 6.7, or pass --allow-global (root) to register in the host's binfmt_misc and restore it afterwards"
                ),
                Some(((what, false), errno)) => bail!(
                    "setting up the lab failed when {what}: {}{}",
                    std::io::Error::from_raw_os_error(errno),
                    // The first step, when it makes a user namespace: a sysctl or
                    // AppArmor may forbid that at any time.
                    if in_user_ns && holder::parse_error(&line).is_some_and(|(step, _)| step == 0) {
                        "\n  help: this user may not make user namespaces here (`lab doctor` says why: a sysctl or an AppArmor policy)"
                    } else {
                        ""
                    }
                ),
                None => bail!(
                    "setting up the lab's namespaces failed{}: {}",
                    status.map(|s| format!(" ({s})")).unwrap_or_default(),
                    err.trim()
                ),
            }
        }
        lab.ns_pid = child_of(pid).context("could not find the lab's PID 1")?;
        Ok(lab)
    }
}

impl crate::run::executor::Executor for HostLab {
    fn exec(&self, command: &str, timeout: Duration) -> anyhow::Result<Execution> {
        let mut c = Command::new("nsenter");
        c.arg(format!("--target={}", self.ns_pid));
        if self.in_user_ns {
            c.arg("--user");
        }
        c.args(["--mount", "--pid", "--", "/bin/sh", "-c", command])
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir("/")
            .stdin(Stdio::null());
        run_bounded(c, timeout, || self.kill_probe_processes())
    }
}

impl HostLab {
    /// `program` with `args` inside the lab's namespaces, with the probes'
    /// environment and the terminal's stdin, for `lab shell`: the caller
    /// adds to its environment and waits for it.
    pub fn interactive(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--target={}", self.ns_pid));
        if self.in_user_ns {
            c.arg("--user");
        }
        c.args(["--mount", "--pid", "--", program])
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir("/");
        c
    }

    /// Kills every process of the lab but its PID 1 and the lab's own
    /// nix-daemon ([`crate::plan::Daemon`]): what a probe left behind (a hung
    /// builder, a daemon of its own) must not leak into the next probe.
    fn kill_probe_processes(&self) {
        let mut c = Command::new("nsenter");
        c.arg(format!("--target={}", self.ns_pid));
        if self.in_user_ns {
            c.arg("--user");
        }
        let spare_daemon_kill = format!(
            r#"keep=$(cat {}/pid 2>/dev/null) || keep=
if [ -z "$keep" ]; then exec kill -s KILL -- -1; fi
for p in /proc/[0-9]*; do
  p=${{p#/proc/}}
  [ "$p" = $$ ] || [ "$p" = 1 ] || [ "$p" = "$keep" ] || kill -s KILL "$p" 2>/dev/null
done
true"#,
            crate::plan::DAEMON_DIR
        );
        let _ = c
            .args(["--mount", "--pid", "--", "/bin/sh", "-c", &spare_daemon_kill])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Ends the lab: its processes die and its mounts disappear with it.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stdin.take();
        crate::run::executor::fault_point("cleanup");
        let status = self.holder.wait().context("failed to wait for the lab's holder")?;
        let mut err = String::new();
        if let Some(mut e) = self.holder.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        if !status.success() || !err.trim().is_empty() {
            bail!("the lab's holder exited with {status}: {}", err.trim());
        }
        Ok(())
    }
}

impl Drop for HostLab {
    fn drop(&mut self) {
        // Closing stdin ends the holder (after restoring the host's entries
        // under --allow-global); kill it only if it is stuck.
        self.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Ok(None) = self.holder.try_wait() {
            if Instant::now() > deadline {
                let _ = self.holder.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = self.holder.wait();
    }
}

/// The only child of process `pid` (unshare's forked PID 1).
fn child_of(pid: u32) -> anyhow::Result<u32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&path).with_context(|| format!("failed to read `{path}`"))?;
        if let Some(child) = text.split_whitespace().next() {
            return Ok(child.parse()?);
        }
        if Instant::now() > deadline {
            bail!("`{path}` stayed empty");
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[cfg(test)]
mod tests {
    use super::{plan, Setup};

    fn setup(lower: &std::path::Path, payloads: &std::path::Path, global_binfmt: bool) -> Setup {
        Setup {
            lower: lower.to_path_buf(),
            payloads: payloads.to_path_buf(),
            nix_conf: "sandbox = true\n".into(),
            links: vec![("/run/binfmt/aarch64-linux".into(), "/usr/bin/qemu-aarch64-static".into())],
            global_binfmt,
            host_nix: None,
            cache: None,
            store_trees: Vec::new(),
            files: Vec::new(),
        }
    }

    #[test]
    fn the_root_binds_the_lower_roots_directories_and_copies_its_links() {
        let lower = tempfile::tempdir().unwrap();
        for d in ["usr", "etc", "nix", "tmp"] {
            std::fs::create_dir(lower.path().join(d)).unwrap();
        }
        std::os::unix::fs::symlink("usr/bin", lower.path().join("bin")).unwrap();
        std::fs::write(lower.path().join("a-file"), "").unwrap();
        let steps: Vec<String> =
            plan(&setup(lower.path(), lower.path(), false)).unwrap().describe().map(str::to_owned).collect();
        let has = |s: &str| steps.iter().any(|step| step == s);
        assert!(has("making the lab's user namespace"), "{steps:#?}");
        assert!(has("binding the stack's `/usr` read-only at the lab's `/usr`"), "{steps:#?}");
        assert!(has("binding the stack's `/etc` read-only at the lab's `/etc`"), "{steps:#?}");
        assert!(has("linking the lab's `/bin`"), "{steps:#?}");
        assert!(has("mounting a tmpfs at the lab's `/nix`"), "{steps:#?}");
        assert!(has("mounting a private binfmt_misc"), "{steps:#?}");
        assert!(has("linking the lab's `/run/binfmt/aarch64-linux`"), "{steps:#?}");
        // The lower root's own /nix and /tmp are the lab's fresh ones; files are not bound.
        assert!(!steps.iter().any(|s| s.contains("stack's `/nix`") || s.contains("stack's `/tmp`")), "{steps:#?}");
        assert!(!steps.iter().any(|s| s.contains("a-file")), "{steps:#?}");
        let pivot = steps.iter().position(|s| s == "pivoting into the lab's root").unwrap();
        let conf = steps.iter().position(|s| s == "writing the lab's `/run/crosslab/etc/nix/nix.conf`").unwrap();
        assert!(pivot < conf, "files are written in the lab's root: {steps:#?}");
        assert!(!steps.iter().any(|s| s.starts_with("executing")), "PID 1 only waits: {steps:#?}");
    }

    #[test]
    fn with_the_hosts_binfmt_misc_pid1_is_the_shell_that_restores_it() {
        let lower = tempfile::tempdir().unwrap();
        let steps: Vec<String> =
            plan(&setup(lower.path(), lower.path(), true)).unwrap().describe().map(str::to_owned).collect();
        assert!(!steps.iter().any(|s| s.contains("user namespace")), "{steps:#?}");
        assert!(steps.iter().any(|s| s == "mounting the host's binfmt_misc"), "{steps:#?}");
        assert_eq!(steps.last().map(String::as_str), Some("executing the holder's shell (/bin/sh) in the lab's root"));
    }
}
