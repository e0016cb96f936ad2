//! A booted guest: one qemu-system-x86_64 (or, for an aarch64 host's lab,
//! qemu-system-aarch64) process running the cached image, and the command
//! channel to the shell inside it.
//!
//! The channel is the NixOS test driver's idea (a shell on a console, commands
//! framed with markers, the exit status echoed back) over a virtio serial port
//! whose host side is qemu's stdin/stdout. Both directions are one text line
//! per message, so no byte a command prints can break the framing:
//!
//! - host → guest: `<nonce> <timeout-secs> <base64 script>`
//! - guest → host: `CROSSLAB-DONE <nonce> <status> <millis> <base64 output>`
//!   (first `CROSSLAB-READY <uname -r>` once the guest is up)
//!
//! Boot: stage 1 (busybox, in the initramfs) loads the virtio drivers, mounts
//! the image and switch_roots to stage 2, the guest agent, a POSIX shell loop
//! running as PID 1 of the guest. After each command the agent kills every
//! other process (`kill -KILL -1` spares PID 1), as the host backend does
//! after a timeout, so nothing a probe started outlives it.
//!
//! The root disk is attached with `snapshot=on` (writes go to a temporary
//! overlay that qemu deletes); the payloads come on a second, read-only disk
//! made per boot. The compile probes' toolchains (hundreds of MB each) are
//! not copied onto a disk: crosslab's cache directory is shared read-only
//! over virtio-9p, and each lab binds the trees it uses into its fresh
//! store, as the host backend binds them.
//!
//! qemu dies with crosslab: it gets SIGKILL when its parent thread exits
//! (PR_SET_PDEATHSIG), and `Drop` kills it.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

use super::base64;
use crate::lab_paths::{LAB_CACHE_DIR, LAB_DIR, PAYLOADS_DIR};
use crate::outcome::Execution;
use crate::plan::NixosSimulation;
use crate::provision::compilers::{write_files_script, LabCompilers};
use crate::provision::cpio::Cpio;
use crate::provision::guest_image::{Image, INITRD_MODULES_DIR};
use crate::quote;
use crate::run::host::probe_env;

/// How the guest's CPU is provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation through /dev/kvm.
    Kvm,
    /// qemu's software emulation: slower, works everywhere.
    Tcg,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// How to boot a guest.
#[derive(Debug, Clone)]
pub struct BootOptions {
    pub accel: Accel,
    /// How long the guest may take to answer `CROSSLAB-READY` before it is killed.
    pub boot_timeout: Duration,
    /// Appended to the kernel command line (later words win).
    pub extra_cmdline: String,
    pub memory_mb: u32,
    pub cpus: u32,
    /// qemu's `-cpu` for a TCG guest (`max` when `None`): the lab's
    /// `host-cpu`, which decides what the guest runs natively.
    pub cpu_model: Option<&'static str>,
    /// crosslab's cache, shared read-only with the guest (virtio-9p), which
    /// [`Guest::reset`] gives a compiling lab (see [`crate::provision::compilers`]).
    pub shared_cache: Option<PathBuf>,
}

impl BootOptions {
    /// Defaults for `accel`; `CROSSLAB_VM_BOOT_TIMEOUT` (seconds) overrides
    /// the boot timeout (120 s: a TCG boot takes ~7 s here).
    pub fn new(accel: Accel) -> BootOptions {
        let secs = std::env::var("CROSSLAB_VM_BOOT_TIMEOUT").ok().and_then(|s| s.parse().ok()).unwrap_or(120);
        BootOptions {
            accel,
            boot_timeout: Duration::from_secs(secs),
            extra_cmdline: String::new(),
            memory_mb: 1024,
            cpus: 2,
            cpu_model: None,
            shared_cache: None,
        }
    }
}

/// The virtio serial port the channel runs on, as the guest sees its name.
const PORT_NAME: &str = "org.crosslab.cmd";

/// The 9p mount tag of [`BootOptions::shared_cache`], and where the agent
/// mounts it (the kernel command line says `crosslab.shared_cache` then).
const SHARED_CACHE_TAG: &str = "crosslab-cache";
const SHARED_CACHE_DIR: &str = "/run/crosslab-agent/cache";

/// How much longer than a command's own timeout the host waits for its answer
/// before it declares the guest hung (the guest kills after timeout + 5 s).
const ANSWER_SLACK: Duration = Duration::from_secs(60);

/// The most output kept from one command: its first 8 KiB and last 56 KiB, as
/// the host backend keeps.
const KEEP_HEAD: u32 = 8 * 1024;
const KEEP_TAIL: u32 = 56 * 1024;

/// Stage 1, the initramfs's /init (busybox sh).
const STAGE1: &str = r#"#!/bin/busybox sh
# crosslab VM stage 1: drivers, root disk, hand over to the agent.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "crosslab stage 1: $*" > /dev/console; poweroff -f; }
while read -r m; do
  insmod "@MODULES@/$m" || fail "insmod $m failed"
done < "@MODULES@/order"
port=
for d in /sys/class/virtio-ports/*; do
  [ "$(cat "$d/name" 2>/dev/null)" = "@PORT@" ] && port=/dev/${d##*/}
done
[ -n "$port" ] || fail "no virtio port named @PORT@"
if grep -qw crosslab.accel_test /proc/cmdline; then
  echo "CROSSLAB-READY $(uname -r)" > "$port"
  poweroff -f
fi
i=0
while [ ! -b /dev/vda ] || [ ! -b /dev/vdb ]; do
  i=$((i + 1)); [ $i -le 200 ] || fail "no /dev/vda and /dev/vdb after 10 s"; sleep 0.05
done
mount -t ext4 /dev/vda /newroot || fail "cannot mount the root image /dev/vda"
mount -t tmpfs -o mode=0755 crosslab-run /newroot/run
mkdir -p /newroot/run/crosslab-agent
cp /agent.sh /newroot/run/crosslab-agent/agent.sh
echo "$port" > /newroot/run/crosslab-agent/port
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /bin/sh /run/crosslab-agent/agent.sh
"#;

/// Stage 2, the guest agent: PID 1 of the guest, serving the channel.
const AGENT: &str = r#"# crosslab VM agent: PID 1 of the guest; runs the host's commands.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
die() { echo "crosslab agent: $*" > /dev/console; exit 1; }
mount -t proc proc /proc || die "cannot mount /proc"
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 crosslab-shm /dev/shm
mount -t tmpfs -o mode=1777 crosslab-tmp /tmp
mount -t tmpfs -o mode=0755 crosslab-nix /nix
modprobe binfmt_misc || die "cannot load binfmt_misc"
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || die "cannot mount binfmt_misc"
mkdir -p "@PAYLOADS@"
mount -t ext4 -o ro /dev/vdb "@PAYLOADS@" || die "cannot mount the payload disk /dev/vdb"
if grep -qw crosslab.shared_cache /proc/cmdline; then
  # Read-only and never changed while the guest runs: the page cache may keep it.
  modprobe -a 9pnet_virtio 9p || die "cannot load the 9p drivers"
  mkdir -p "@SHARED_CACHE@"
  mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 "@TAG@" "@SHARED_CACHE@" \
    || die "cannot mount the cache shared as @TAG@"
fi
hostname crosslab-vm
work=/run/crosslab-agent
exec 3<>"$(cat $work/port)" || die "cannot open the command port"
echo "CROSSLAB-READY $(uname -r)" >&3
while read -r nonce secs script <&3; do
  printf '%s' "$script" | base64 -d > $work/cmd
  read up _ < /proc/uptime; start=$((${up%.*} * 1000 + (1${up#*.} - 100) * 10))
  ( cd / && exec timeout -k 5 "$secs" /bin/sh $work/cmd ) < /dev/null > $work/out 2>&1 3>&-
  status=$?
  read up _ < /proc/uptime; end=$((${up%.*} * 1000 + (1${up#*.} - 100) * 10))
  # Whatever the command left behind (a hung builder, a daemon) dies here,
  # but for the lab's own nix-daemon (plan::Daemon), which lives until RESET.
  if [ -s /run/crosslab-daemon/pid ]; then
    keep=$(cat /run/crosslab-daemon/pid)
    for p in /proc/[0-9]*; do
      p=${p#/proc/}
      [ "$p" = $$ ] || [ "$p" = 1 ] || [ "$p" = "$keep" ] || kill -KILL "$p" 2> /dev/null
    done
  else
    kill -KILL -1 2> /dev/null
  fi
  size=$(stat -c %s $work/out)
  if [ "$size" -gt $((@HEAD@ + @TAIL@)) ]; then
    { head -c @HEAD@ $work/out
      printf '\n[... crosslab cut %s bytes of output ...]\n' $((size - @HEAD@ - @TAIL@))
      tail -c @TAIL@ $work/out; } > $work/out.cut
    mv $work/out.cut $work/out
  fi
  printf 'CROSSLAB-DONE %s %s %s ' "$nonce" "$status" $((end - start)) >&3
  base64 -w0 $work/out >&3
  printf '\n' >&3
done
die "the command port closed"
"#;

/// Resets the guest for a new lab: no binfmt entries, an empty Nix store
/// holding only the lab's store trees (bound read-only), a fresh /tmp and
/// home, the lab's nix.conf, links and files, and crosslab's cache at
/// `$LAB_CACHE` if the lab compiles.
const RESET: &str = r#"set -eu
# The last lab's [machine] state goes first: its covers of /proc, an unmounted binfmt_misc.
eval "$UNDO_MACHINE"
echo -1 > /proc/sys/fs/binfmt_misc/status 2> /dev/null || true
# The last lab's nix-daemon and its /etc/passwd and /etc/group (plan::Daemon).
if [ -e /run/crosslab-daemon/pid ]; then kill -s KILL "$(cat /run/crosslab-daemon/pid)" 2> /dev/null || true; fi
while umount /etc/passwd 2> /dev/null; do :; done
while umount /etc/group 2> /dev/null; do :; done
rm -rf /run/crosslab-daemon
umount -l /nix
mount -t tmpfs -o mode=0755 crosslab-nix /nix
umount -l /tmp
mount -t tmpfs -o mode=1777 crosslab-tmp /tmp
# The last lab's links (its toolchains, a simulated NixOS's /run/binfmt) go.
[ ! -f /run/crosslab-agent/links ] || xargs -r rm -f < /run/crosslab-agent/links
: > /run/crosslab-agent/links
if mountpoint -q "$LAB_CACHE"; then umount "$LAB_CACHE"; fi
rm -rf /run/binfmt "$LAB_DIR/etc" "$LAB_DIR/home" "$LAB_DIR/bin"
[ ! -d "$LAB_CACHE" ] || rmdir "$LAB_CACHE"
mkdir -p "$LAB_DIR/etc/nix" "$LAB_DIR/home"
printf '%s' "$NIX_CONF" > "$LAB_DIR/etc/nix/nix.conf"
: > "$LAB_DIR/etc/nix/user.conf"
if [ "$CACHE" = 1 ]; then
  mkdir "$LAB_CACHE"
  mount --bind "$SHARED_CACHE" "$LAB_CACHE"
  mount -o remount,bind,ro "$LAB_CACHE"
fi
if [ -n "$BINDS" ]; then
  mkdir -p /nix/store
  printf '%s' "$BINDS" | while read -r name tree; do
    mkdir "/nix/store/$name"
    mount --bind "$SHARED_CACHE/$tree" "/nix/store/$name"
    mount -o remount,bind,ro "/nix/store/$name"
  done
fi
printf '%s' "$LINKS" | while read -r link target; do
  mkdir -p "$(dirname "$link")"
  ln -s "$target" "$link"
  echo "$link" >> /run/crosslab-agent/links
done
# The lab's files follow, their paths under $r: the guest's root is the lab's.
r=
"#;

/// A running guest. Commands go through [`crate::run::executor::Executor`].
pub struct Guest {
    qemu: Mutex<Child>,
    channel: Mutex<Channel>,
    /// `-name` of the qemu process: unique, so tests can look for leftovers.
    pub name: String,
    /// `uname -r` in the guest.
    pub kernel_release: String,
    /// The Debian suite the guest runs.
    pub suite: String,
    pub accel: Accel,
    /// From starting qemu to `CROSSLAB-READY`.
    pub boot_time: Duration,
    /// The directory shared as [`BootOptions::shared_cache`], if any.
    shared_cache: Option<PathBuf>,
    dir: tempfile::TempDir,
    /// Held while the guest runs; see [`remove_stale_run_dirs`].
    _in_use: fs::File,
}

struct Channel {
    to_guest: ChildStdin,
    from_guest: Receiver<Vec<u8>>,
    next_nonce: u64,
    /// Set once the guest stopped answering; nothing more is sent.
    broken: Option<String>,
}

static BOOTS: AtomicU32 = AtomicU32::new(0);

impl Guest {
    /// Boots `image` with the payload directory `payloads` on a second disk;
    /// returns once the agent answers. A guest that does not answer within
    /// `options.boot_timeout` is killed.
    pub fn boot(image: &Image, payloads: &Path, options: &BootOptions) -> anyhow::Result<Guest> {
        remove_stale_run_dirs();
        let dir = tempfile::Builder::new()
            .prefix("crosslab-vm-")
            .tempdir()
            .context("failed to create a temporary directory")?;
        let in_use = lock_run_dir(dir.path())?;
        let payload_disk = dir.path().join("payloads.img");
        make_payload_disk(payloads, &payload_disk)?;
        let initrd = dir.path().join("initrd.cpio");
        let mut bytes = fs::read(image.base_initrd())
            .with_context(|| format!("failed to read `{}`", image.base_initrd().display()))?;
        bytes.extend(stage_initrd());
        fs::write(&initrd, bytes).with_context(|| format!("failed to write `{}`", initrd.display()))?;

        let name = format!("crosslab-vm-{}-{}", std::process::id(), BOOTS.fetch_add(1, Ordering::Relaxed));
        let console = dir.path().join("console.log");
        let stderr = dir.path().join("qemu.stderr");
        let arch = image.guest_arch();
        let mut cmdline = format!("console={} panic=-1 quiet loglevel=4", arch.console);
        if options.shared_cache.is_some() {
            cmdline.push_str(" crosslab.shared_cache");
        }
        if !options.extra_cmdline.is_empty() {
            cmdline.push(' ');
            cmdline.push_str(&options.extra_cmdline);
        }
        let mut qemu = arch.qemu.command()?;
        qemu.args(["-name", &name, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"]);
        if let Some(machine) = arch.machine {
            qemu.args(["-M", machine]);
        }
        match options.accel {
            Accel::Kvm => qemu.args(["-accel", "kvm", "-cpu", "host"]),
            Accel::Tcg => qemu.args(["-accel", "tcg", "-cpu", options.cpu_model.unwrap_or("max")]),
        };
        qemu.args(["-m", &options.memory_mb.to_string(), "-smp", &options.cpus.to_string()])
            .arg("-serial")
            .arg(format!("file:{}", console.display()))
            .arg("-kernel")
            .arg(image.kernel())
            .arg("-initrd")
            .arg(&initrd)
            .args(["-append", &cmdline])
            .arg("-drive")
            .arg(format!("file={},format=raw,if=virtio,snapshot=on", drive_path(&image.root())?))
            .arg("-drive")
            .arg(format!("file={},format=raw,if=virtio,readonly=on", drive_path(&payload_disk)?))
            .args(["-device", "virtio-serial-pci", "-chardev", "stdio,id=cmd,signal=off"])
            .args(["-device", &format!("virtserialport,chardev=cmd,name={PORT_NAME}")]);
        if let Some(cache) = &options.shared_cache {
            qemu.arg("-virtfs").arg(format!(
                "local,path={},mount_tag={SHARED_CACHE_TAG},security_model=none,readonly=on",
                drive_path(cache)?
            ));
        }
        qemu.env("TMPDIR", dir.path()).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(fs::File::create(&stderr)?);
        // SAFETY: prctl is async-signal-safe. qemu must not outlive crosslab,
        // however crosslab ends.
        unsafe {
            qemu.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = qemu.spawn().with_context(|| format!("could not execute {}", arch.qemu.describe()))?;
        let to_guest = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (tx, from_guest) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let mut guest = Guest {
            qemu: Mutex::new(child),
            channel: Mutex::new(Channel { to_guest, from_guest, next_nonce: 1, broken: None }),
            name,
            kernel_release: String::new(),
            suite: image.manifest.suite.clone(),
            accel: options.accel,
            boot_time: Duration::ZERO,
            shared_cache: options.shared_cache.clone(),
            dir,
            _in_use: in_use,
        };
        let deadline = started + options.boot_timeout;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let received = guest.channel.get_mut().expect("not shared yet").from_guest.recv_timeout(wait);
            match received {
                Ok(line) => {
                    let line = String::from_utf8_lossy(&line);
                    if let Some(release) = line.trim_end().strip_prefix("CROSSLAB-READY ") {
                        guest.kernel_release = release.to_owned();
                        guest.boot_time = started.elapsed();
                        return Ok(guest);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    guest.kill();
                    bail!(
                        "the VM `{}` did not come up within {} s ({}); crosslab killed it\n{}\n  help: a slow machine may need more time: CROSSLAB_VM_BOOT_TIMEOUT=<seconds>",
                        guest.name,
                        options.boot_timeout.as_secs(),
                        options.accel.as_str().to_uppercase(),
                        guest.last_words()
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = guest.kill();
                    bail!("the VM `{}` exited ({status}) before it came up\n{}", guest.name, guest.last_words());
                }
            }
        }
    }

    /// Prepares the guest for a new lab (see [`RESET`]). `nixos` is a
    /// simulated NixOS's links (`/run/binfmt/aarch64-linux` →
    /// `/usr/bin/qemu-aarch64-static`, or a P wrapper in the cache) and files; `compilers` are the lab's compile
    /// probes', from [`BootOptions::shared_cache`].
    pub fn reset(&self, nix_conf: &str, nixos: &NixosSimulation, compilers: &LabCompilers) -> anyhow::Result<()> {
        let store_binds = compilers.store_binds();
        if compilers.needs_cache() && self.shared_cache.is_none() {
            bail!("the VM `{}` was booted without crosslab's cache, which the lab's compile probes need", self.name);
        }
        if nixos.uses_cache && self.shared_cache.is_none() {
            bail!(
                "the VM `{}` was booted without crosslab's cache, which holds the simulated NixOS's P wrappers",
                self.name
            );
        }
        let links = &nixos.links;
        let files: Vec<(String, String)> = nixos.files.iter().cloned().chain(compilers.files()).collect();
        if let Some(dir) = &self.shared_cache {
            for (_, tree) in &store_binds {
                if !dir.join(tree).is_dir() {
                    bail!("`{tree}` is not in the cache `{}` the VM `{}` shares", dir.display(), self.name);
                }
            }
        }
        let line = |(a, b): &(String, String)| format!("{a} {b}\n");
        let links: String = links.iter().chain(&compilers.links()).map(line).collect();
        let binds: String = store_binds.iter().map(line).collect();
        let script = format!(
            "LAB_DIR={}\nNIX_CONF={}\nLINKS={}\nBINDS={}\nSHARED_CACHE={}\nLAB_CACHE={}\nCACHE={}\nUNDO_MACHINE={}\n{RESET}{}",
            quote::sh(LAB_DIR),
            quote::sh(nix_conf),
            quote::sh(&links),
            quote::sh(&binds),
            quote::sh(SHARED_CACHE_DIR),
            quote::sh(LAB_CACHE_DIR),
            u8::from(compilers.needs_cache() || nixos.uses_cache),
            quote::sh(crate::plan::MachineState::UNDO),
            write_files_script(&files),
        );
        let done = self.call(&script, Duration::from_secs(60))?;
        if !done.succeeded() {
            bail!("resetting the VM for the next lab failed: {}", done.output.trim());
        }
        Ok(())
    }

    /// Runs `script` with the agent's `/bin/sh` and environment.
    fn call(&self, script: &str, timeout: Duration) -> anyhow::Result<Execution> {
        let mut channel = self.channel.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(why) = &channel.broken {
            bail!("the VM is gone: {why}");
        }
        let nonce = channel.next_nonce;
        channel.next_nonce += 1;
        let secs = timeout.as_secs().max(1);
        let line = format!("{nonce} {secs} {}\n", base64::encode(script.as_bytes()));
        if let Err(e) = channel.to_guest.write_all(line.as_bytes()).and_then(|()| channel.to_guest.flush()) {
            let why = format!("writing to its command port failed: {e}");
            channel.broken = Some(why.clone());
            drop(channel);
            let status = self.kill();
            bail!("the VM is gone ({status}): {why}\n{}", self.last_words());
        }
        let deadline = Instant::now() + Duration::from_secs(secs) + ANSWER_SLACK;
        let prefix = format!("CROSSLAB-DONE {nonce} ");
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match channel.from_guest.recv_timeout(wait) {
                Ok(line) => {
                    let line = String::from_utf8_lossy(&line);
                    if let Some(rest) = line.trim_end().strip_prefix(&prefix) {
                        return parse_answer(rest, secs)
                            .with_context(|| format!("garbled answer from the VM: {line:.200}"));
                    }
                }
                Err(e) => {
                    let why = match e {
                        RecvTimeoutError::Timeout => format!(
                            "it did not answer within {} s of a command with a {secs} s timeout",
                            (Duration::from_secs(secs) + ANSWER_SLACK).as_secs()
                        ),
                        RecvTimeoutError::Disconnected => "it exited while running a command".to_owned(),
                    };
                    channel.broken = Some(why.clone());
                    drop(channel);
                    let status = self.kill();
                    bail!("the VM stopped answering: {why}; crosslab killed it ({status})\n{}", self.last_words());
                }
            }
        }
    }

    /// PID of the qemu process (for tests that check nothing is left behind).
    pub fn qemu_pid(&self) -> u32 {
        self.qemu.lock().unwrap_or_else(|e| e.into_inner()).id()
    }

    /// Powers the guest off: kills qemu (the snapshot overlay is discarded
    /// with it) and removes the run's temporary files.
    pub fn shutdown(self) {
        self.kill();
    }

    /// Kills qemu and reaps it; says how it ended.
    fn kill(&self) -> String {
        let mut qemu = self.qemu.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(Some(status)) = qemu.try_wait() {
            return status.to_string();
        }
        let _ = qemu.kill();
        match qemu.wait() {
            Ok(status) => status.to_string(),
            Err(e) => format!("could not reap qemu: {e}"),
        }
    }

    /// The end of qemu's stderr and of the guest's console, for error messages.
    fn last_words(&self) -> String {
        let mut text = String::new();
        for (what, file) in [("qemu stderr", "qemu.stderr"), ("guest console", "console.log")] {
            let mut bytes = Vec::new();
            if let Ok(mut f) = fs::File::open(self.dir.path().join(file)) {
                let _ = f.read_to_end(&mut bytes);
            }
            let content = String::from_utf8_lossy(&bytes).replace('\r', "");
            let lines = crate::text::last_lines(&content, 15);
            if !lines.is_empty() {
                text.push_str(&format!("  {what}, last lines:\n"));
                for l in lines {
                    text.push_str(&format!("    | {l}\n"));
                }
            }
        }
        if text.is_empty() {
            text.push_str("  (no output from qemu or the guest console)\n");
        }
        text.trim_end().to_owned()
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        self.kill();
    }
}

impl crate::run::executor::Executor for Guest {
    fn exec(&self, command: &str, timeout: Duration) -> anyhow::Result<Execution> {
        // The host backend's environment, word for word, so probe commands
        // see the same variables and paths on both backends.
        let env: Vec<String> = probe_env().iter().map(|(k, v)| quote::sh(&format!("{k}={v}"))).collect();
        let script = format!("exec env -i {} /bin/sh -c {}\n", env.join(" "), quote::sh(command));
        self.call(&script, timeout)
    }

    /// Under TCG every instruction of the guest is emulated, so a probe
    /// (a compile under qemu-user inside it above all) takes several times
    /// as long: it gets its timeout times [`TCG_SLOWDOWN`], as the rendered
    /// NixOS check gives its probes (modules/crosslab_probe.py).
    fn probe_timeout(&self, timeout: Duration) -> Duration {
        match self.accel {
            Accel::Kvm => timeout,
            Accel::Tcg => timeout * TCG_SLOWDOWN,
        }
    }
}

/// How much longer a probe may take in a TCG guest: the factor
/// `render::TCG_SLOWDOWN` gives the rendered check's probes.
const TCG_SLOWDOWN: u32 = 5;

/// Parses `<status> <millis> <base64 output>` (the output may be empty).
fn parse_answer(rest: &str, secs: u64) -> anyhow::Result<Execution> {
    let mut words = rest.splitn(3, ' ');
    let status: i32 = words.next().unwrap_or_default().parse()?;
    let millis: u64 = words.next().unwrap_or_default().parse()?;
    let output = base64::decode(words.next().unwrap_or_default()).ok_or_else(|| anyhow!("output is not base64"))?;
    // coreutils' timeout exits 124 (137 when its KILL follows the TERM).
    let timed_out = matches!(status, 124 | 137) && millis + 50 >= secs * 1000;
    let (exit_code, signal) = match status {
        _ if timed_out => (None, Some(libc::SIGKILL)),
        // The shell's way of saying "killed by signal N".
        129..=192 => (None, Some(status - 128)),
        _ => (Some(status), None),
    };
    Ok(Execution {
        exit_code,
        signal,
        timed_out,
        duration: Duration::from_millis(millis),
        output: crate::run::process::decode_output(&output),
    })
}

/// The per-boot initramfs appended to the cached base: the two stages.
fn stage_initrd() -> Vec<u8> {
    let stage1 = STAGE1.replace("@MODULES@", INITRD_MODULES_DIR).replace("@PORT@", PORT_NAME);
    let agent = AGENT
        .replace("@PAYLOADS@", PAYLOADS_DIR)
        .replace("@SHARED_CACHE@", SHARED_CACHE_DIR)
        .replace("@TAG@", SHARED_CACHE_TAG)
        .replace("@HEAD@", &KEEP_HEAD.to_string())
        .replace("@TAIL@", &KEEP_TAIL.to_string());
    let mut cpio = Cpio::new();
    cpio.file("init", 0o755, stage1.as_bytes());
    cpio.file("agent.sh", 0o644, agent.as_bytes());
    cpio.finish()
}

/// A read-only ext4 disk holding the payload directory.
fn make_payload_disk(payloads: &Path, disk: &Path) -> anyhow::Result<()> {
    let bytes: u64 = walkdir::WalkDir::new(payloads)
        .into_iter()
        .filter_map(|e| e.ok()?.path().symlink_metadata().ok())
        .map(|m| m.len().max(4096))
        .sum();
    let size_mb = bytes / (1 << 20) + bytes / (4 << 20) + 16;
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-O", "^has_journal", "-L", "crosslab-payloads", "-d"])
        .arg(payloads)
        .arg(disk)
        .arg(format!("{size_mb}M"))
        .output()
        .context("could not execute `mkfs.ext4` (Debian: e2fsprogs)")?;
    if !out.status.success() {
        bail!(
            "`mkfs.ext4 -d {}` exited with {}: {}",
            payloads.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Locks a run's temporary directory for as long as the returned file lives.
fn lock_run_dir(dir: &Path) -> anyhow::Result<fs::File> {
    use std::os::fd::AsRawFd;
    let path = dir.join(".in-use");
    let file = fs::File::create(&path).with_context(|| format!("failed to create `{}`", path.display()))?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        bail!("failed to lock `{}`: {}", path.display(), std::io::Error::last_os_error());
    }
    Ok(file)
}

/// Removes the temporary directories of runs that were killed (SIGKILL
/// leaves no chance to clean up; qemu died with them): those whose
/// `.in-use` lock nobody holds. A directory younger than a minute may be a
/// boot between creating its lock file and locking it: left alone.
fn remove_stale_run_dirs() {
    use std::os::fd::AsRawFd;
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        let is_ours = entry.file_name().to_str().is_some_and(|n| n.starts_with("crosslab-vm-"));
        let age = entry.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok());
        if !is_ours || age.is_none_or(|a| a < Duration::from_secs(60)) {
            continue;
        }
        let Ok(lock) = fs::File::open(path.join(".in-use")) else { continue };
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// A path as qemu's options (`-drive file=`, `-virtfs path=`) take it:
/// commas would end the option.
fn drive_path(path: &Path) -> anyhow::Result<String> {
    let text = path.to_str().with_context(|| format!("`{}` is not UTF-8", path.display()))?;
    Ok(text.replace(',', ",,"))
}

/// The accelerator to use: `CROSSLAB_VM_ACCEL` (`kvm` or `tcg`) if set, else
/// KVM only if a short test boot with it finishes. The verdict is cached per
/// host boot (`<cache>/vm/accel-<boot id>`): /dev/kvm can exist while KVM
/// guests hang, and the test costs its timeout each time it fails. Says once,
/// on stderr, which one and why.
pub fn choose_accel(image: &Image, payloads: &Path) -> anyhow::Result<Accel> {
    let guest_arch = image.guest_arch().arch;
    if guest_arch != std::env::consts::ARCH {
        // KVM runs guests of the host's own architecture only.
        eprintln!("crosslab: the {guest_arch} VM runs on TCG (software emulation of another architecture, slower)");
        return Ok(Accel::Tcg);
    }
    match std::env::var("CROSSLAB_VM_ACCEL").as_deref() {
        Ok("kvm") => return Ok(Accel::Kvm),
        Ok("tcg") => return Ok(Accel::Tcg),
        Ok(other) => bail!("CROSSLAB_VM_ACCEL={other:?}: expected `kvm` or `tcg`"),
        Err(_) => {}
    }
    let kvm_openable = fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok();
    if !kvm_openable {
        eprintln!("crosslab: no usable /dev/kvm; the VM runs on TCG (software emulation, slower)");
        return Ok(Accel::Tcg);
    }
    let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let cached: PathBuf = image.dir.parent().unwrap_or(&image.dir).join(format!("accel-{}", boot_id.trim()));
    if let Ok(verdict) = fs::read_to_string(&cached) {
        let accel = if verdict.starts_with("kvm") { Accel::Kvm } else { Accel::Tcg };
        eprintln!(
            "crosslab: the VM runs on {} ({}, tested earlier since this host booted)",
            accel.as_str().to_uppercase(),
            verdict.trim()
        );
        return Ok(accel);
    }
    let mut options = BootOptions::new(Accel::Kvm);
    options.boot_timeout = Duration::from_secs(15);
    options.extra_cmdline = "crosslab.accel_test".to_owned();
    let started = Instant::now();
    let (accel, verdict) = match Guest::boot(image, payloads, &options) {
        Ok(guest) => {
            guest.shutdown();
            (Accel::Kvm, format!("kvm: a test boot answered in {:.1} s", started.elapsed().as_secs_f64()))
        }
        Err(e) => {
            // The first line says how it ended; qemu's own complaint, if any, says why.
            let text = format!("{e:#}");
            let mut why = text.lines().next().unwrap_or_default().to_owned();
            if let Some(qemu) = text.lines().find(|l| l.contains("qemu-system-x86_64:")) {
                why.push_str(&format!(": {}", qemu.trim_start_matches([' ', '|']).trim()));
            }
            (Accel::Tcg, format!("tcg: /dev/kvm exists but a KVM test boot failed: {why}"))
        }
    };
    let _ = fs::write(&cached, &verdict);
    eprintln!("crosslab: the VM runs on {} ({})", accel.as_str().to_uppercase(), verdict);
    Ok(accel)
}

#[cfg(test)]
mod tests {
    use super::{parse_answer, stage_initrd};

    #[test]
    fn answers_are_decoded_and_timeouts_recognised() {
        let ok = parse_answer("0 12 aGkACg==", 5).unwrap();
        assert_eq!((ok.exit_code, ok.output.as_str(), ok.timed_out), (Some(0), "hi\n", false));
        let failed = parse_answer("1 3 ", 5).unwrap();
        assert_eq!((failed.exit_code, failed.output.as_str()), (Some(1), ""));
        let timed_out = parse_answer("124 5002 ", 5).unwrap();
        assert!(timed_out.timed_out && timed_out.exit_code.is_none());
        let exited_124 = parse_answer("124 10 ", 5).unwrap();
        assert_eq!(exited_124.exit_code, Some(124));
        assert!(parse_answer("x 1 ", 5).is_err());
    }

    #[test]
    fn stage_scripts_have_no_placeholders_left() {
        let text = String::from_utf8_lossy(&stage_initrd()).into_owned();
        assert!(!text.contains('@'), "{text}");
    }
}
