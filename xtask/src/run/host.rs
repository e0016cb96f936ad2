//! The host backend: a lab runs on this machine inside its own user, mount
//! and PID namespaces, so it never changes the host.
//!
//! - binfmt_misc is per user namespace on kernels ≥ 6.7: the lab mounts a
//!   private instance and registers there; the host's entries stay as they are.
//! - `/nix`, `/run` and `/tmp` are fresh tmpfs mounts: every run has an empty
//!   Nix store and its own `nix.conf`, and every run really builds.
//! - The namespaces live as long as one "holder" process, PID 1 of the lab's
//!   PID namespace, which waits for its stdin to close. When crosslab exits,
//!   however it exits (even SIGKILL), the pipe closes, the holder ends, the
//!   kernel kills every process of the lab and drops its mounts. Nothing is
//!   written to the host's disk.
//!
//! Probes enter the namespaces with `nsenter` and run under `/bin/sh -c`.
//! The user namespace maps every uid and gid to itself (written by root from
//! outside, which keeps `setgroups` allowed): Nix's sandbox calls setgroups,
//! and fails with `--map-root-user`'s single mapping.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Where the lab's own files live inside its namespaces.
pub const LAB_DIR: &str = "/run/crosslab";
/// Where the payload cache is bind-mounted (read-only) inside the namespaces.
pub const PAYLOADS_DIR: &str = "/run/crosslab/payloads";

/// What the holder sets up before the first probe.
pub struct Setup {
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
}

/// The running namespaces of one lab.
pub struct HostLab {
    holder: Child,
    /// Kept open: closing it ends the lab.
    stdin: Option<ChildStdin>,
    /// PID (in the host's PID namespace) of the lab's PID 1.
    ns_pid: u32,
    in_user_ns: bool,
}

/// The environment every probe command sees.
pub fn probe_env() -> Vec<(&'static str, String)> {
    vec![
        ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()),
        ("HOME", format!("{LAB_DIR}/home")),
        ("TMPDIR", "/tmp".into()),
        ("LANG", "C.UTF-8".into()),
        ("NIX_CONF_DIR", format!("{LAB_DIR}/etc/nix")),
        ("NIX_USER_CONF_FILES", format!("{LAB_DIR}/etc/nix/user.conf")),
        ("XDG_CONFIG_HOME", format!("{LAB_DIR}/home/.config")),
        ("XDG_CACHE_HOME", format!("{LAB_DIR}/home/.cache")),
        ("XDG_DATA_HOME", format!("{LAB_DIR}/home/.local/share")),
        ("NIX_REMOTE", "local".into()),
        ("NIX_PATH", String::new()),
        ("CROSSLAB_PAYLOADS", PAYLOADS_DIR.into()),
    ]
}

/// The holder's script: mounts, the lab's files, then wait for stdin to close.
const SETUP_SCRIPT: &str = r#"set -eu
# The payload cache may live under /run or /tmp: bind it before those are hidden.
mount -t tmpfs -o mode=0755 crosslab-nix /nix
mkdir /nix/.payloads
mount --bind "$CROSSLAB_PAYLOAD_SRC" /nix/.payloads
mount -t tmpfs -o mode=0755 crosslab-run /run
mkdir -p /run/crosslab/payloads /run/crosslab/etc/nix /run/crosslab/home
mount --move /nix/.payloads /run/crosslab/payloads
rmdir /nix/.payloads
mount -o remount,bind,ro /run/crosslab/payloads
mount -t tmpfs -o mode=1777 crosslab-tmp /tmp
if [ "$CROSSLAB_GLOBAL_BINFMT" = 1 ]; then
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
else
  if ! mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null; then
    echo "crosslab: cannot mount a private binfmt_misc: this kernel has no binfmt_misc namespaces (they came in Linux 6.7)" >&2
    exit 3
  fi
fi
printf '%s' "$CROSSLAB_NIX_CONF" > /run/crosslab/etc/nix/nix.conf
: > /run/crosslab/etc/nix/user.conf
printf '%s' "$CROSSLAB_LINKS" | while read -r link target; do
  mkdir -p "$(dirname "$link")"
  ln -s "$target" "$link"
done
echo ready
read -r _ || true
"#;

impl HostLab {
    /// Creates the lab's namespaces and waits until they are ready.
    pub fn start(setup: &Setup) -> anyhow::Result<HostLab> {
        let links: String = setup.links.iter().map(|(l, t)| format!("{l} {t}\n")).collect();
        let in_user_ns = !setup.global_binfmt;
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
            .env("CROSSLAB_PAYLOAD_SRC", &setup.payloads)
            .env("CROSSLAB_NIX_CONF", &setup.nix_conf)
            .env("CROSSLAB_LINKS", links)
            .env("CROSSLAB_GLOBAL_BINFMT", if setup.global_binfmt { "1" } else { "0" })
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut holder = command.spawn().context("could not execute `unshare` (util-linux)")?;
        let pid = holder.id();
        let mut stdin = holder.stdin.take();
        if in_user_ns {
            if let Err(e) = map_identity(pid) {
                let _ = holder.kill();
                let _ = holder.wait();
                return Err(e);
            }
            stdin.as_mut().expect("piped").write_all(b"go\n").context("the lab's holder died early")?;
        }
        let mut lab = HostLab { holder, stdin, ns_pid: 0, in_user_ns };
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

    /// Runs `command` under `/bin/sh -c` inside the lab with `env`, for at most `timeout`.
    pub fn exec(&self, command: &str, env: &[(&str, String)], timeout: Duration) -> anyhow::Result<Execution> {
        let mut c = Command::new("nsenter");
        c.arg(format!("--target={}", self.ns_pid));
        if self.in_user_ns {
            c.arg("--user");
        }
        c.args(["--mount", "--pid", "--", "/bin/sh", "-c", command])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir("/")
            .stdin(Stdio::null());
        run_bounded(c, timeout, || self.kill_probe_processes())
    }

    /// Kills every process of the lab but its PID 1: what a probe left behind
    /// (a hung builder, a daemon) must not leak into the next probe.
    fn kill_probe_processes(&self) {
        let mut c = Command::new("nsenter");
        c.arg(format!("--target={}", self.ns_pid));
        if self.in_user_ns {
            c.arg("--user");
        }
        let _ = c
            .args(["--mount", "--pid", "--", "/bin/kill", "-KILL", "-1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Ends the lab: its processes die and its mounts disappear with it.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stdin.take();
        let status = self.holder.wait().context("failed to wait for the lab's holder")?;
        if !status.success() {
            bail!("the lab's holder exited with {status}");
        }
        Ok(())
    }
}

impl Drop for HostLab {
    fn drop(&mut self) {
        // Closing stdin ends the holder; kill it too in case it is stuck.
        self.stdin.take();
        if let Ok(None) = self.holder.try_wait() {
            std::thread::sleep(Duration::from_millis(20));
            if let Ok(None) = self.holder.try_wait() {
                let _ = self.holder.kill();
            }
        }
        let _ = self.holder.wait();
    }
}

/// Writes a full identity uid/gid map for the process `pid` once it is in its
/// new user namespace.
fn map_identity(pid: u32) -> anyhow::Result<()> {
    let ours = std::fs::read_link("/proc/self/ns/user").context("failed to read /proc/self/ns/user")?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match std::fs::read_link(format!("/proc/{pid}/ns/user")) {
            Ok(theirs) if theirs != ours => break,
            Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_micros(200)),
            Ok(_) => bail!("the lab's holder did not enter a new user namespace"),
            Err(e) => bail!("the lab's holder died before entering its user namespace: {e}"),
        }
    }
    for file in ["uid_map", "gid_map"] {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, "0 0 4294967295\n").with_context(|| {
            format!("failed to write `{path}`: the host backend must run as root (sudo cargo xtask lab run …)")
        })?;
    }
    Ok(())
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

/// How a command ended, and what it printed.
#[derive(Debug)]
pub struct Execution {
    /// Exit code, or `None` when killed by a signal or the timeout.
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub duration: Duration,
    /// stdout and stderr interleaved, decoded lossily, bounded.
    pub output: String,
}

impl Execution {
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }
}

/// The most output kept from one probe: its start and its end.
const KEEP_HEAD: usize = 8 * 1024;
const KEEP_TAIL: usize = 56 * 1024;

/// Runs `command` with stdout and stderr on one pipe, killing its process
/// group after `timeout`; `cleanup` runs after a timeout or when something
/// outside the group keeps the pipe open.
pub fn run_bounded(mut command: Command, timeout: Duration, cleanup: impl Fn()) -> anyhow::Result<Execution> {
    let program = format!("{:?}", command.get_program());
    let (reader, writer) = std::io::pipe().context("failed to create a pipe")?;
    command.stdout(writer.try_clone()?).stderr(writer);
    // SAFETY: setpgid is async-signal-safe; the child becomes its own group so
    // a timeout can kill everything it started.
    unsafe {
        command.pre_exec(|| {
            if libc::setpgid(0, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = command.spawn().with_context(|| format!("could not execute {program}"))?;
    drop(command); // closes our copies of the pipe's write end
    let collector = std::thread::spawn(move || collect_bounded(reader));
    let pgid = child.id() as i32;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() >= timeout {
            timed_out = true;
            // SAFETY: plain kill(2) on the child's own process group.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            cleanup();
            break child.wait()?;
        }
        std::thread::sleep(poll_interval(start.elapsed()));
    };
    let duration = start.elapsed();
    // Something the probe started may still hold the pipe open.
    let grace = Instant::now() + Duration::from_millis(200);
    while !collector.is_finished() && Instant::now() < grace {
        std::thread::sleep(Duration::from_millis(2));
    }
    if !collector.is_finished() {
        // SAFETY: as above.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        cleanup();
    }
    let output = collector.join().map_err(|_| anyhow::anyhow!("the output reader panicked"))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(Execution { exit_code: status.code(), signal: status.signal(), timed_out, duration, output })
}

/// Polls often at first (most probes take milliseconds), then less.
fn poll_interval(elapsed: Duration) -> Duration {
    if elapsed < Duration::from_millis(50) {
        Duration::from_micros(500)
    } else if elapsed < Duration::from_secs(1) {
        Duration::from_millis(5)
    } else {
        Duration::from_millis(20)
    }
}

/// Reads everything, keeping the first [`KEEP_HEAD`] and last [`KEEP_TAIL`]
/// bytes, and decodes them for matching: invalid UTF-8 becomes U+FFFD and
/// NUL bytes (Nix 2.8 writes binary framing into error output) are dropped.
fn collect_bounded(mut reader: impl Read) -> String {
    let mut head = Vec::new();
    let mut tail: std::collections::VecDeque<u8> = std::collections::VecDeque::new();
    let mut total: u64 = 0;
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        total += n as u64;
        let mut chunk = &buf[..n];
        if head.len() < KEEP_HEAD {
            let take = (KEEP_HEAD - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
        }
        tail.extend(chunk);
        if tail.len() > KEEP_TAIL {
            let excess = tail.len() - KEEP_TAIL;
            tail.drain(..excess);
        }
    }
    let cut = total - head.len() as u64 - tail.len() as u64;
    let mut bytes = head;
    if cut > 0 {
        bytes.extend_from_slice(format!("\n[… crosslab cut {cut} bytes of output …]\n").as_bytes());
    }
    bytes.extend(tail);
    bytes.retain(|&b| b != 0);
    String::from_utf8_lossy(&bytes).into_owned()
}
