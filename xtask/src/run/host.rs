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
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::lab_paths::{LAB_DIR, NIX_CONF_DIR, PAYLOADS_DIR, PROBE_PATH, TOOLCHAINS_DIR};
use crate::outcome::Execution;
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
    holder: Child,
    /// Kept open: closing it ends the lab.
    stdin: Option<ChildStdin>,
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

/// The holder's script: build the lab's root, pivot into it, then wait for
/// stdin to close.
///
/// The root is a tmpfs holding the stack's root filesystem (`/` for the host
/// stack) entry by entry, bound read-only, beside the lab's own `/nix`
/// (which a fresh machine does not have), `/run` and `/tmp`. An overlay of
/// `/` would be one mount, but the kernel refuses to clone a lower layer
/// with locked submounts, which `/` always has in a user namespace.
/// Everything is mounted with the host's tools before `pivot_root`; a
/// `chroot` would forbid the user namespaces Nix's sandbox makes.
const SETUP_SCRIPT: &str = r#"set -eu
# Descriptors first: the staging tmpfs below may hide where they live.
exec 7< "$CROSSLAB_LOWER"
exec 8< "$CROSSLAB_PAYLOAD_SRC"
# The host's store (a Nix from the official installer runs from there) and
# crosslab's cache stay reachable through fds 9 and 6 once hidden.
if [ -n "$CROSSLAB_HOST_STORE" ]; then exec 9< /nix/store; fi
if [ -n "$CROSSLAB_CACHE" ]; then exec 6< "$CROSSLAB_CACHE"; fi
r=/tmp
mount -t tmpfs -o mode=0755 crosslab-root "$r"
for d in nix run tmp proc sys dev .old; do mkdir "$r/$d"; done
# Every other top-level entry of the lower root, read-only: a directory is
# bound with what is mounted below it, a link (/bin -> usr/bin) copied.
for e in /proc/self/fd/7/* /proc/self/fd/7/.[!.]*; do
  n=${e##*/}
  case "$n" in nix|run|tmp|proc|sys|dev|.old|'*'|'.[!.]*') continue;; esac
  if [ -L "$e" ]; then
    ln -s "$(readlink "$e")" "$r/$n"
  elif [ -d "$e" ]; then
    mkdir "$r/$n"
    mount --no-canonicalize --rbind "$e" "$r/$n"
    mount -o remount,bind,ro "$r/$n"
  fi
done
mount -t tmpfs -o mode=0755 crosslab-nix "$r/nix"
# Store paths the lab's store starts with, read-only: `name source` lines.
if [ -n "$CROSSLAB_STORE_BINDS" ]; then
  mkdir -p "$r/nix/store"
  printf '%s' "$CROSSLAB_STORE_BINDS" | while read -r name source; do
    if [ -d "$source" ]; then mkdir "$r/nix/store/$name"; else : > "$r/nix/store/$name"; fi
    # --no-canonicalize: resolved to a name, the source would be the new, empty /nix.
    mount --no-canonicalize --bind "$source" "$r/nix/store/$name"
    mount -o remount,bind,ro "$r/nix/store/$name"
  done
fi
mount -t tmpfs -o mode=0755 crosslab-run "$r/run"
mkdir -p "$r$CROSSLAB_LAB_DIR/payloads" "$r$CROSSLAB_LAB_DIR/etc/nix" "$r$CROSSLAB_LAB_DIR/home"
mount --no-canonicalize --bind /proc/self/fd/8 "$r$CROSSLAB_LAB_DIR/payloads"
mount -o remount,bind,ro "$r$CROSSLAB_LAB_DIR/payloads"
if [ -n "$CROSSLAB_CACHE" ]; then
  mkdir "$r$CROSSLAB_LAB_DIR/cache"
  mount --no-canonicalize --bind /proc/self/fd/6 "$r$CROSSLAB_LAB_DIR/cache"
  mount -o remount,bind,ro "$r$CROSSLAB_LAB_DIR/cache"
fi
exec 6<&- 7<&- 8<&- 9<&-
mount -t tmpfs -o mode=1777 crosslab-tmp "$r/tmp"
mount --rbind /dev "$r/dev"
mount --rbind /sys "$r/sys"
mount -t proc proc "$r/proc"
if [ "$CROSSLAB_GLOBAL_BINFMT" = 1 ]; then
  mount -t binfmt_misc binfmt_misc "$r/proc/sys/fs/binfmt_misc" 2>/dev/null || [ -e "$r/proc/sys/fs/binfmt_misc/register" ]
else
  if ! mount -t binfmt_misc binfmt_misc "$r/proc/sys/fs/binfmt_misc" 2>/dev/null; then
    echo "crosslab: cannot mount a private binfmt_misc: this kernel has no binfmt_misc namespaces (they came in Linux 6.7)" >&2
    exit 3
  fi
fi
cd "$r"
pivot_root . .old
cd /
umount -l /.old
rmdir /.old
if [ "$CROSSLAB_GLOBAL_BINFMT" = 1 ]; then eval "$CROSSLAB_GLOBAL_SAVE"; fi
printf '%s' "$CROSSLAB_NIX_CONF" > $CROSSLAB_LAB_DIR/etc/nix/nix.conf
: > $CROSSLAB_LAB_DIR/etc/nix/user.conf
printf '%s' "$CROSSLAB_LINKS" | while read -r link target; do
  mkdir -p "$(dirname "$link")"
  ln -s "$target" "$link"
done
# The lab's files, their paths under $r: the lab's root is / now.
r=
eval "$CROSSLAB_WRITE_FILES"
echo ready
read -r _ || true
if [ "$CROSSLAB_GLOBAL_BINFMT" = 1 ]; then
  eval "$CROSSLAB_GLOBAL_RESTORE"
fi
"#;

/// The store paths a lab's fresh store starts with, as the set-up script's
/// `name source` lines: the host Nix's closure (through fd 9, the host's
/// store) and the cached store trees (through fd 6, crosslab's cache).
fn store_binds(setup: &Setup) -> String {
    let closure = setup.host_nix.iter().flat_map(|n| &n.closure).map(|name| format!("{name} /proc/self/fd/9/{name}\n"));
    let trees = setup.store_trees.iter().map(|(name, tree)| format!("{name} /proc/self/fd/6/{tree}\n"));
    closure.chain(trees).collect()
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
        let links: String = setup.links.iter().map(|(l, t)| format!("{l} {t}\n")).collect();
        let in_user_ns = !setup.global_binfmt;
        let id_map = if in_user_ns { Some(IdMap::for_current_user()?) } else { None };
        let mut command = if in_user_ns {
            // The outer shell waits until we have written its uid/gid maps.
            let mut c = Command::new("unshare");
            c.args(["--user", "--", "/bin/sh", "-c"])
                .arg("read -r _ || exit 1; exec unshare --mount --pid --fork --mount-proc -- /bin/sh -c \"$0\"")
                .arg(SETUP_SCRIPT);
            c
        } else {
            let mut c = Command::new("unshare");
            c.args(["--mount", "--pid", "--fork", "--mount-proc", "--", "/bin/sh", "-c", SETUP_SCRIPT]);
            c
        };
        command
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CROSSLAB_LAB_DIR", LAB_DIR)
            .env("CROSSLAB_LOWER", &setup.lower)
            .env("CROSSLAB_PAYLOAD_SRC", &setup.payloads)
            .env("CROSSLAB_NIX_CONF", &setup.nix_conf)
            .env("CROSSLAB_LINKS", links)
            .env("CROSSLAB_GLOBAL_BINFMT", if setup.global_binfmt { "1" } else { "0" })
            .env("CROSSLAB_HOST_STORE", if setup.host_nix.is_some() { "1" } else { "" })
            .env("CROSSLAB_CACHE", setup.cache.as_deref().map(|d| d.as_os_str()).unwrap_or_default())
            .env("CROSSLAB_WRITE_FILES", crate::provision::compilers::write_files_script(&setup.files))
            .env("CROSSLAB_STORE_BINDS", store_binds(setup))
            .env("CROSSLAB_GLOBAL_SAVE", GLOBAL_SAVE)
            .env("CROSSLAB_GLOBAL_RESTORE", GLOBAL_RESTORE)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut holder = command.spawn().context("could not execute `unshare` (util-linux)")?;
        let pid = holder.id();
        let mut stdin = holder.stdin.take();
        if let Some(id_map) = &id_map {
            if let Err(e) = wait_for_user_ns(pid).and_then(|()| id_map.apply(pid)) {
                let _ = holder.kill();
                let _ = holder.wait();
                return Err(e);
            }
            stdin.as_mut().expect("piped").write_all(b"go\n").context("the lab's holder died early")?;
        }
        let mut env = probe_env();
        if let Some(nix) = &setup.host_nix {
            env.retain(|(k, _)| *k != "PATH");
            env.push(("PATH", format!("{}:{PROBE_PATH}", nix.bin.display())));
            env.push(("NIX_BIN_DIR", nix.bin.display().to_string()));
            env.push(("NIX_LIBEXEC_DIR", nix.package.join("libexec").display().to_string()));
        }
        let mut lab = HostLab { holder, stdin, ns_pid: 0, in_user_ns, env };
        let mut stdout = BufReader::new(lab.holder.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout.read_line(&mut line).context("failed to read from the lab's holder")?;
        if line.trim() != "ready" {
            let mut err = String::new();
            if let Some(mut e) = lab.holder.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let status = lab.holder.wait().ok().and_then(|s| s.code());
            if status == Some(3) {
                bail!("{}\n  help: run on Linux ≥ 6.7, or pass --allow-global (root) to register in the host's binfmt_misc and restore it afterwards", err.trim());
            }
            bail!("setting up the lab's namespaces failed: {}", err.trim());
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

/// Waits until process `pid` is in a user namespace other than ours.
fn wait_for_user_ns(pid: u32) -> anyhow::Result<()> {
    let ours = std::fs::read_link("/proc/self/ns/user").context("failed to read /proc/self/ns/user")?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match std::fs::read_link(format!("/proc/{pid}/ns/user")) {
            Ok(theirs) if theirs != ours => return Ok(()),
            Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_micros(200)),
            Ok(_) => bail!("the lab's holder did not enter a new user namespace"),
            Err(e) => bail!("the lab's holder died before entering its user namespace: {e}"),
        }
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
