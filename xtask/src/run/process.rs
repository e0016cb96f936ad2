//! Running one command the way probes need it: stdout and stderr on one
//! bounded pipe, a timeout that kills everything the command started, and the
//! output decoded for matching.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::outcome::Execution;

/// The most output kept from one probe: its start and its end.
const KEEP_HEAD: usize = 8 * 1024;
const KEEP_TAIL: usize = 56 * 1024;

/// Runs `command` with stdout and stderr on one pipe, killing its process
/// group after `timeout`; `cleanup` runs after a timeout or when something
/// outside the group keeps the pipe open.
pub fn run_bounded(command: Command, timeout: Duration, cleanup: impl Fn()) -> anyhow::Result<Execution> {
    run_bounded_lines(command, timeout, cleanup, None)
}

/// [`run_bounded`], also handing each line of output to `on_line` as it
/// comes (the nixos backend judges probes from the test driver's log while
/// `nix build` runs), on the caller's thread.
pub fn run_bounded_lines(
    mut command: Command,
    timeout: Duration,
    cleanup: impl Fn(),
    mut on_line: Option<&mut dyn FnMut(&str)>,
) -> anyhow::Result<Execution> {
    let program = format!("{:?}", command.get_program());
    let (reader, writer) = std::io::pipe().context("failed to create a pipe")?;
    command.stdout(writer.try_clone()?).stderr(writer);
    in_own_process_group(&mut command);
    let start = Instant::now();
    let mut child = command.spawn().with_context(|| format!("could not execute {program}"))?;
    drop(command); // closes our copies of the pipe's write end
    let (lines_out, lines) = std::sync::mpsc::channel::<String>();
    let streaming = on_line.is_some();
    let lines_out = streaming.then_some(lines_out);
    let (sender, collected) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(collect_bounded(reader, lines_out)));
    let mut pass_lines = |wait: Duration| {
        if let Some(on_line) = on_line.as_mut() {
            if let Ok(line) = lines.recv_timeout(wait) {
                on_line(&line);
                while let Ok(line) = lines.try_recv() {
                    on_line(&line);
                }
            }
        }
    };
    let pgid = child.id() as i32;
    let deadline = start + timeout;
    // A probe is waited for on a pidfd (no polling latency); a streamed
    // command (a `nix build` of minutes) wakes for each line it prints.
    let exited = if streaming {
        loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            pass_lines(Duration::from_millis(50));
        }
    } else {
        wait_until(&mut child, deadline)?
    };
    let mut timed_out = false;
    let status = match exited {
        Some(status) => status,
        None => {
            timed_out = true;
            // SAFETY: plain kill(2) on the child's own process group.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            cleanup();
            child.wait()?
        }
    };
    let duration = start.elapsed();
    // Something the probe started may still hold the pipe open.
    let output = match collected.recv_timeout(Duration::from_millis(200)) {
        Ok(output) => output,
        Err(_) => {
            // SAFETY: as above.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            cleanup();
            collected.recv().map_err(|_| anyhow::anyhow!("the output reader panicked"))?
        }
    };
    // What the reader sent before it ended.
    pass_lines(Duration::ZERO);
    use std::os::unix::process::ExitStatusExt;
    Ok(Execution { exit_code: status.code(), signal: status.signal(), timed_out, duration, output })
}

/// Waits for `child` to exit until `deadline`: `None` when it is still
/// running then. Woken by the kernel when it exits (a pidfd), so a probe
/// costs no polling latency; polls where pidfds are missing (before 5.3).
fn wait_until(child: &mut std::process::Child, deadline: Instant) -> anyhow::Result<Option<std::process::ExitStatus>> {
    // SAFETY: pidfd_open on our own unreaped child; the descriptor is ours.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) } as i32;
    if pidfd < 0 {
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(poll_interval(start.elapsed()));
        }
    }
    // SAFETY: a descriptor we just opened and own.
    let pidfd = unsafe { std::os::fd::OwnedFd::from_raw_fd(pidfd) };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // Rounded up: poll's 0 would return at once, a busy loop near the deadline.
        let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        let mut fd = libc::pollfd { fd: pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: poll on one pollfd we own.
        let ready = unsafe { libc::poll(&mut fd, 1, ms) };
        if ready < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return Err(std::io::Error::last_os_error()).context("failed to wait for a probe");
        }
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
    }
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
/// bytes, and decodes them for matching with [`decode_output`]; with
/// `lines`, sends each line (decoded lossily) there as it completes.
fn collect_bounded(mut reader: impl Read, lines: Option<std::sync::mpsc::Sender<String>>) -> String {
    let mut partial: Vec<u8> = Vec::new();
    let mut send_lines = |chunk: &[u8], end: bool| {
        let Some(lines) = &lines else { return };
        partial.extend_from_slice(chunk);
        while let Some(at) = partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = partial.drain(..=at).collect();
            let _ = lines.send(String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']).to_owned());
        }
        if end && !partial.is_empty() {
            let _ = lines.send(String::from_utf8_lossy(&partial).into_owned());
            partial.clear();
        }
    };
    let mut head = Vec::new();
    // The tail grows to twice its size before the oldest half is dropped, so
    // each byte is moved at most once more: gigabytes pass at pipe speed.
    let mut tail: Vec<u8> = Vec::with_capacity(2 * KEEP_TAIL);
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        send_lines(&buf[..n], false);
        total += n as u64;
        let mut chunk = &buf[..n];
        if head.len() < KEEP_HEAD {
            let take = (KEEP_HEAD - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
        }
        tail.extend_from_slice(chunk);
        if tail.len() > 2 * KEEP_TAIL {
            tail.drain(..tail.len() - KEEP_TAIL);
        }
    }
    send_lines(&[], true);
    if tail.len() > KEEP_TAIL {
        tail.drain(..tail.len() - KEEP_TAIL);
    }
    let cut = total - head.len() as u64 - tail.len() as u64;
    let mut bytes = head;
    if cut > 0 {
        bytes.extend_from_slice(format!("\n[… crosslab cut {cut} bytes of output …]\n").as_bytes());
    }
    bytes.extend(tail);
    decode_output(&bytes)
}

/// A probe's output as text to match and show. When a builder cannot be
/// executed, Nix 2.8's build child writes `\x01\n` and the error in its wire
/// format (8-byte lengths, strings padded with NULs) into the build log, and
/// the parent strips ANSI colours from it, so the lengths no longer match what
/// follows them: `executing '…/sh': No such file or directory` arrives wrapped
/// in binary. Such a frame becomes one `error: <message>` line per text in it;
/// any other NUL byte is dropped and invalid UTF-8 becomes U+FFFD.
pub fn decode_output(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\x01\n") {
            if let Some((texts, len)) = error_frame(&bytes[i + 2..]) {
                for text in texts {
                    out.extend_from_slice(b"error: ");
                    out.extend_from_slice(text);
                    out.push(b'\n');
                }
                i += 2 + len;
                continue;
            }
        }
        if bytes[i] != 0 {
            out.push(bytes[i]);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The texts of a Nix error frame at the start of `bytes` and the frame's
/// length (through the newline that ends its padding), or None when `bytes`
/// does not start with one (`\x05` and seven NULs: the length of "Error").
/// Texts are the runs of two or more printable bytes but the word "Error";
/// a single printable byte between NULs is a length.
fn error_frame(bytes: &[u8]) -> Option<(Vec<&[u8]>, usize)> {
    if !bytes.starts_with(b"\x05\0\0\0\0\0\0\0Error") {
        return None;
    }
    let end = bytes.windows(2).position(|w| w == b"\0\n").map_or(bytes.len(), |p| p + 2);
    let texts =
        bytes[..end].split(|&b| b < 0x20 && b != b'\t').filter(|run| run.len() >= 2 && *run != b"Error").collect();
    Some((texts, end))
}

/// Makes the child of `command` the leader of a process group of its own, so
/// that a bound can kill everything it started with one signal.
pub fn in_own_process_group(command: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: setpgid is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            if libc::setpgid(0, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{decode_output, run_bounded_lines};

    #[test]
    fn lines_reach_the_caller_as_they_come_and_the_output_is_kept_whole() {
        let mut command = std::process::Command::new("/bin/sh");
        command.args(["-c", "echo one; sleep 0.2; printf 'two\\nthree'"]);
        let start = std::time::Instant::now();
        let mut seen: Vec<(String, std::time::Duration)> = Vec::new();
        let done = run_bounded_lines(
            command,
            std::time::Duration::from_secs(10),
            || {},
            Some(&mut |line: &str| seen.push((line.to_owned(), start.elapsed()))),
        )
        .unwrap();
        let lines: Vec<&str> = seen.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(lines, ["one", "two", "three"], "an unterminated last line counts too");
        assert!(seen[0].1 < std::time::Duration::from_millis(150), "`one` came before the sleep ended: {seen:?}");
        assert_eq!(done.output, "one\ntwo\nthree");
        assert_eq!(done.exit_code, Some(0));
    }

    /// Bytes `nix-build` 2.8 printed here when a sandboxed build could not
    /// execute its builder: the message's length (110, `n`) counts the ANSI
    /// colours the parent then stripped.
    const NIX_EXEC_FAILURE: &[u8] = b"building '/nix/store/m-x.drv'...\n\x01\n\x05\0\0\0\0\0\0\0Error\0\0\0\0\0\0\0\0\0\0\0\x05\0\0\0\0\0\0\0Error\0\0\0n\0\0\0\0\0\0\0executing '/nix/store/d-pl/sh': No such file or directory\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\nerror: builder for '/nix/store/m-x.drv' failed with exit code 1\n";

    #[test]
    fn nix_error_frames_become_error_lines() {
        assert_eq!(
            decode_output(NIX_EXEC_FAILURE),
            "building '/nix/store/m-x.drv'...\nerror: executing '/nix/store/d-pl/sh': No such file or directory\nerror: builder for '/nix/store/m-x.drv' failed with exit code 1\n"
        );
    }

    #[test]
    fn other_binary_stays_text_without_nuls() {
        assert_eq!(decode_output(b"a\0b\x01\nc\xffd"), "ab\x01\nc\u{fffd}d");
        assert_eq!(decode_output(b"\x01\n\x05"), "\x01\n\x05");
        // A frame cut off by the output bound still gives its text.
        assert_eq!(
            decode_output(&NIX_EXEC_FAILURE[..120]),
            "building '/nix/store/m-x.drv'...\nerror: executing '/nix/store/d-pl/sh': No su\n"
        );
    }
}
