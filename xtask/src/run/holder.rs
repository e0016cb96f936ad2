//! The host backend's holder process, made in-process: crosslab forks, and
//! the child enters the lab's namespaces and builds its root with system
//! calls (unshare, mount, pivot_root), where a shell script forked
//! `mkdir`/`mount`/`ln` once per root entry (~120 processes, most of a
//! lab's start-up).
//!
//! The parent plans every step (paths, file contents, messages) before it
//! forks; the child only makes system calls on that plan. crosslab may run
//! threads, and after `fork` only async-signal-safe calls are safe, so the
//! child never allocates, locks or panics. It reports a failed step as
//! `error <step> <errno>` on its stdout, which the parent turns into a
//! message naming the step.
//!
//! The processes, as `unshare --user` then `unshare --mount --pid --fork`
//! made them: the forked child (the "holder", what [`Holder`] is) unshares
//! its user namespace, says `unshared` and waits for `go` while the parent
//! writes its uid/gid maps, unshares its mount and PID namespaces and forks
//! the lab's PID 1, then waits for it and exits with its status. PID 1 does
//! the rest of the plan and then waits for its stdin to close.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// The holder's process name (`/proc/PID/comm`), and its lab's PID 1's: a
/// fork has crosslab's command line, so these tell them apart.
pub const HOLDER_NAME: &std::ffi::CStr = c"crosslab-holder";
pub const PID1_NAME: &std::ffi::CStr = c"crosslab-pid1";

/// One step of a lab's set-up.
pub enum Step {
    /// `unshare(CLONE_NEWUSER)`.
    UnshareUser,
    /// Says `unshared` and waits for `go`: the parent writes the maps.
    AwaitIdMaps,
    /// `unshare(CLONE_NEWNS | CLONE_NEWPID)`, then makes every mount
    /// private, as `unshare --mount` does: nothing propagates to the host.
    UnshareMountPid,
    /// Forks the lab's PID 1, which does the steps after this one; the
    /// holder waits for it and exits with its status.
    ForkPid1,
    /// A directory; with `existing_ok`, as `mkdir -p` makes a parent.
    Mkdir {
        path: CString,
        existing_ok: bool,
    },
    /// An empty file, the mount point of a bound file.
    Touch {
        path: CString,
    },
    Symlink {
        target: CString,
        link: CString,
    },
    Tmpfs {
        name: CString,
        at: CString,
        options: CString,
    },
    /// A bind mount, read-only (keeping the flags the kernel locks in a user
    /// namespace: nosuid, nodev, noexec, atime) or not.
    Bind {
        from: CString,
        at: CString,
        recursive: bool,
        read_only: bool,
    },
    /// A proc of the lab's PID namespace.
    Proc {
        at: CString,
    },
    /// binfmt_misc: a private instance, or with `global` the host's (then
    /// already mounted is fine: `register` exists).
    Binfmt {
        at: CString,
        register: CString,
        global: bool,
    },
    /// Opens the directory `path` as descriptor `fd`, to reach it once a
    /// mount hides it.
    Open {
        path: CString,
        fd: RawFd,
    },
    /// Closes the descriptors the steps above read the host through, so no
    /// probe reaches the host through PID 1's descriptors.
    Close {
        fds: Vec<RawFd>,
    },
    /// `pivot_root` into `root` (a `chroot` would forbid the user namespaces
    /// Nix's sandbox makes), the old root detached and its directory removed.
    /// `old` is relative to `root`, `old_abs` the same once pivoted (`/…`).
    Pivot {
        root: CString,
        old: CString,
        old_abs: CString,
    },
    /// A file with `content` and `mode`.
    Write {
        path: CString,
        content: Vec<u8>,
        mode: libc::mode_t,
    },
    /// Execs `program` with `argv` (at most 7) and `envp` (at most 15): the
    /// last step, what PID 1 then is.
    Exec {
        program: CString,
        argv: Vec<CString>,
        envp: Vec<CString>,
    },
}

/// A plan: the steps and what each does (for errors).
#[derive(Default)]
pub struct Plan {
    steps: Vec<(Step, String)>,
}

impl Plan {
    pub fn push(&mut self, step: Step, what: impl Into<String>) {
        self.steps.push((step, what.into()));
    }

    /// What each step does, in order.
    pub fn describe(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().map(|(_, what)| what.as_str())
    }

    /// What step `index` does, and whether it is mounting a private
    /// binfmt_misc (which fails on kernels without binfmt_misc namespaces).
    pub fn step(&self, index: usize) -> Option<(&str, bool)> {
        self.steps.get(index).map(|(s, what)| (what.as_str(), matches!(s, Step::Binfmt { global: false, .. })))
    }
}

/// A path as the kernel takes it.
pub fn c_path(path: impl AsRef<std::ffi::OsStr>) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_ref().as_bytes()).map_err(|_| io::Error::other("a path with a NUL byte"))
}

/// The forked holder: its PID and its end of the three pipes.
pub struct Holder {
    pid: libc::pid_t,
    pub stdin: Option<File>,
    pub stdout: Option<File>,
    pub stderr: Option<File>,
    status: Option<ExitStatus>,
}

impl Holder {
    /// Forks the holder, which runs `plan`.
    pub fn spawn(plan: &Plan) -> io::Result<Holder> {
        let (stdin_r, stdin_w) = pipe()?;
        let (stdout_r, stdout_w) = pipe()?;
        let (stderr_r, stderr_w) = pipe()?;
        // SAFETY: sysconf has no preconditions; asked here, not after fork.
        let open_max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) }.clamp(1024, 1 << 20) as RawFd;
        // SAFETY: the child only makes async-signal-safe calls (see `child`).
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            child(plan, [stdin_r, stdout_w, stderr_w], open_max);
        }
        for fd in [stdin_r, stdout_w, stderr_w] {
            // SAFETY: our own descriptors, closed once.
            unsafe { libc::close(fd) };
        }
        // SAFETY: these descriptors are ours alone from here on.
        let file = |fd| Some(unsafe { File::from_raw_fd(fd) });
        Ok(Holder { pid, stdin: file(stdin_w), stdout: file(stdout_r), stderr: file(stderr_r), status: None })
    }

    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    pub fn kill(&mut self) -> io::Result<()> {
        if self.status.is_none() {
            // SAFETY: our child, not yet reaped: the PID is still its.
            if unsafe { libc::kill(self.pid, libc::SIGKILL) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        self.reap(0).map(|s| s.expect("waitpid without WNOHANG returns a status"))
    }

    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.reap(libc::WNOHANG)
    }

    fn reap(&mut self, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let mut status = 0;
        loop {
            // SAFETY: waits for our own child.
            match unsafe { libc::waitpid(self.pid, &mut status, flags) } {
                0 => return Ok(None),
                -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
                -1 => return Err(io::Error::last_os_error()),
                _ => {
                    self.status = Some(ExitStatus::from_raw(status));
                    return Ok(self.status);
                }
            }
        }
    }
}

fn pipe() -> io::Result<(RawFd, RawFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // Above 2, so that moving them to 0, 1 and 2 in the child cannot clobber
    // one with another (crosslab may run with a standard descriptor closed).
    for fd in &mut fds {
        if *fd < 3 {
            // SAFETY: duplicates our own descriptor, then closes the low one.
            let high = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3) };
            if high < 0 {
                return Err(io::Error::last_os_error());
            }
            unsafe { libc::close(*fd) };
            *fd = high;
        }
    }
    Ok((fds[0], fds[1]))
}

/// The child: async-signal-safe calls only, never returns.
fn child(plan: &Plan, [stdin, stdout, stderr]: [RawFd; 3], open_max: RawFd) -> ! {
    // SAFETY (this function): system calls on memory planned before the fork.
    unsafe {
        for (fd, to) in [(stdin, 0), (stdout, 1), (stderr, 2)] {
            if libc::dup2(fd, to) < 0 {
                libc::_exit(126);
            }
        }
        // Nothing of crosslab's: another lab's pipe held here would keep
        // that lab alive.
        close_all_but(&[0, 1, 2], open_max);
        // crosslab's own SIGPIPE choice is not the lab's.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        // Named, so that `ps` (and the tests) tell a lab's processes from crosslab.
        libc::prctl(libc::PR_SET_NAME, HOLDER_NAME.as_ptr());
        let mut step = 0;
        while let Some((s, _)) = plan.steps.get(step) {
            if let Err(errno) = run(s) {
                fail(step, errno);
            }
            if let Step::ForkPid1 = s {
                match libc::fork() {
                    -1 => fail(step, errno()),
                    0 => {
                        libc::prctl(libc::PR_SET_NAME, PID1_NAME.as_ptr());
                    }
                    pid1 => {
                        let mut status = 0;
                        while libc::waitpid(pid1, &mut status, 0) < 0 {
                            if errno() != libc::EINTR {
                                libc::_exit(125);
                            }
                        }
                        libc::_exit(if libc::WIFEXITED(status) {
                            libc::WEXITSTATUS(status)
                        } else {
                            128 + libc::WTERMSIG(status)
                        });
                    }
                }
            }
            step += 1;
        }
        // PID 1 with no Exec step: ready, and alive until stdin closes.
        write_all(1, b"ready\n");
        let mut buf = [0u8; 64];
        loop {
            match libc::read(0, buf.as_mut_ptr().cast(), buf.len()) {
                0 => break,
                -1 if errno() == libc::EINTR => continue,
                -1 => break,
                _ => {}
            }
        }
        libc::_exit(0)
    }
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `Err(errno)` when a call returned -1.
fn check(ret: libc::c_int) -> Result<(), i32> {
    if ret == -1 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// One step (but [`Step::ForkPid1`]'s fork).
unsafe fn run(step: &Step) -> Result<(), i32> {
    let null = std::ptr::null::<libc::c_char>();
    match step {
        Step::UnshareUser => check(libc::unshare(libc::CLONE_NEWUSER)),
        Step::AwaitIdMaps => {
            write_all(1, b"unshared\n");
            // Until the parent's `go` line; its end of stdin closing means it died.
            let mut byte = 0u8;
            loop {
                match libc::read(0, (&mut byte as *mut u8).cast(), 1) {
                    1 if byte == b'\n' => return Ok(()),
                    1 => {}
                    -1 if errno() == libc::EINTR => {}
                    _ => libc::_exit(1),
                }
            }
        }
        Step::UnshareMountPid => {
            check(libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWPID))?;
            check(libc::mount(null, c"/".as_ptr(), null, libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()))
        }
        Step::ForkPid1 => Ok(()),
        Step::Mkdir { path, existing_ok } => match check(libc::mkdir(path.as_ptr(), 0o755)) {
            Err(libc::EEXIST) if *existing_ok => Ok(()),
            r => r,
        },
        Step::Touch { path } => {
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC, 0o644);
            check(fd)?;
            libc::close(fd);
            Ok(())
        }
        Step::Symlink { target, link } => check(libc::symlink(target.as_ptr(), link.as_ptr())),
        Step::Tmpfs { name, at, options } => {
            check(libc::mount(name.as_ptr(), at.as_ptr(), c"tmpfs".as_ptr(), 0, options.as_ptr().cast()))
        }
        Step::Bind { from, at, recursive, read_only } => {
            let rec = if *recursive { libc::MS_REC } else { 0 };
            check(libc::mount(from.as_ptr(), at.as_ptr(), null, libc::MS_BIND | rec, std::ptr::null()))?;
            if !*read_only {
                return Ok(());
            }
            // A remount must keep what the kernel locked, or it is refused.
            // (glibc's statvfs reads the flags the kernel's statfs returns.)
            let mut fs: libc::statvfs = std::mem::zeroed();
            check(libc::statvfs(at.as_ptr(), &mut fs))?;
            let mut flags = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY;
            for (st, ms) in [
                (libc::ST_NOSUID, libc::MS_NOSUID),
                (libc::ST_NODEV, libc::MS_NODEV),
                (libc::ST_NOEXEC, libc::MS_NOEXEC),
                (libc::ST_NOATIME, libc::MS_NOATIME),
                (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
                (libc::ST_RELATIME, libc::MS_RELATIME),
            ] {
                if fs.f_flag & st != 0 {
                    flags |= ms;
                }
            }
            check(libc::mount(null, at.as_ptr(), null, flags, std::ptr::null()))
        }
        Step::Proc { at } => check(libc::mount(c"proc".as_ptr(), at.as_ptr(), c"proc".as_ptr(), 0, std::ptr::null())),
        Step::Binfmt { at, register, global } => {
            let mounted =
                check(libc::mount(c"binfmt_misc".as_ptr(), at.as_ptr(), c"binfmt_misc".as_ptr(), 0, std::ptr::null()));
            match mounted {
                Err(_) if *global && libc::access(register.as_ptr(), libc::F_OK) == 0 => Ok(()),
                r => r,
            }
        }
        Step::Open { path, fd } => {
            let opened = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC);
            check(opened)?;
            if opened != *fd {
                let moved = libc::dup3(opened, *fd, libc::O_CLOEXEC);
                let e = errno();
                libc::close(opened);
                if moved < 0 {
                    return Err(e);
                }
            }
            Ok(())
        }
        Step::Close { fds } => {
            for fd in fds {
                libc::close(*fd);
            }
            Ok(())
        }
        Step::Pivot { root, old, old_abs } => {
            check(libc::chdir(root.as_ptr()))?;
            check(libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), old.as_ptr()) as libc::c_int)?;
            check(libc::chdir(c"/".as_ptr()))?;
            check(libc::umount2(old_abs.as_ptr(), libc::MNT_DETACH))?;
            check(libc::rmdir(old_abs.as_ptr()))
        }
        Step::Write { path, content, mode } => {
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC, *mode);
            check(fd)?;
            let written = write_all(fd, content) && libc::fchmod(fd, *mode) == 0;
            let e = errno();
            libc::close(fd);
            if written {
                Ok(())
            } else {
                Err(e)
            }
        }
        Step::Exec { program, argv, envp } => {
            // NULL-terminated pointer arrays on the stack: no allocation.
            let mut args = [null; 8];
            let mut envs = [null; 16];
            for (slot, a) in args.iter_mut().zip(argv.iter().take(7)) {
                *slot = a.as_ptr();
            }
            for (slot, e) in envs.iter_mut().zip(envp.iter().take(15)) {
                *slot = e.as_ptr();
            }
            libc::execve(program.as_ptr(), args.as_ptr(), envs.as_ptr());
            Err(errno())
        }
    }
}

/// Writes all of `bytes` to `fd`; false on an error.
unsafe fn write_all(fd: RawFd, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        match libc::write(fd, bytes.as_ptr().cast(), bytes.len()) {
            -1 if errno() == libc::EINTR => {}
            n if n > 0 => bytes = &bytes[n as usize..],
            _ => return false,
        }
    }
    true
}

/// Says `error <step> <errno>` on stdout and exits.
unsafe fn fail(step: usize, errno: i32) -> ! {
    let mut line = [0u8; 48];
    line[..6].copy_from_slice(b"error ");
    let mut len = 6;
    len += digits(step as u64, &mut line[len..]);
    line[len] = b' ';
    len += 1;
    len += digits(errno.max(0) as u64, &mut line[len..]);
    line[len] = b'\n';
    write_all(1, &line[..=len]);
    libc::_exit(1)
}

/// Writes `n` in decimal at the start of `out`; returns how many bytes.
fn digits(mut n: u64, out: &mut [u8]) -> usize {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = (tmp.len() - i).min(out.len());
    out[..len].copy_from_slice(&tmp[i..i + len]);
    len
}

/// Closes every descriptor but `keep` (sorted): close_range over the gaps,
/// or one by one below `open_max` on kernels before 5.9.
unsafe fn close_all_but(keep: &[RawFd], open_max: RawFd) {
    let mut from: u32 = 0;
    for &fd in keep.iter().chain(std::iter::once(&RawFd::MAX)) {
        let fd = fd as u32;
        if fd > from {
            let to = fd - 1;
            if libc::syscall(libc::SYS_close_range, from, to, 0) != 0 {
                for f in from..=to.min(open_max as u32) {
                    libc::close(f as RawFd);
                }
            }
        }
        from = fd.saturating_add(1);
    }
}

/// The line the child says on a failed step, parsed: `(step, errno)`.
pub fn parse_error(line: &str) -> Option<(usize, i32)> {
    let mut words = line.strip_prefix("error ")?.split_whitespace();
    Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::{digits, parse_error};

    #[test]
    fn a_failed_step_is_said_and_read_back() {
        let mut out = [0u8; 20];
        let n = digits(1234, &mut out);
        assert_eq!(&out[..n], b"1234");
        let n = digits(0, &mut out);
        assert_eq!(&out[..n], b"0");
        assert_eq!(parse_error("error 17 13"), Some((17, 13)));
        assert_eq!(parse_error("ready"), None);
    }
}
