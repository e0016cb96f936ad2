//! Small text helpers every floor uses: counting words, showing control
//! characters, durations, the end of a long output.

use std::borrow::Cow;
use std::time::Duration;

/// `n` and `word`, plural unless there is one: `1 probe`, `3 probes`.
pub fn count(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `text` for the terminal: control characters other than tab and line feed
/// written as escapes (`\x1b`; a carriage return is `\x0d`). Probe output
/// and spec text (a title names sandbox paths) are shown, never obeyed: a raw
/// escape sequence would recolour, clear or retitle the terminal, and a
/// carriage return overwrite the report's line.
pub fn printable(text: &str) -> Cow<'_, str> {
    let hidden = |c: char| c.is_control() && c != '\t' && c != '\n';
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().map(|c| if hidden(c) { escaped(c) } else { c.to_string() }).collect())
}

/// A character as an escape a reader can see: `\x1b`, `\u{fffe}`.
pub fn escaped(c: char) -> String {
    if (c as u32) < 0x100 {
        format!("\\x{:02x}", c as u32)
    } else {
        format!("\\u{{{:x}}}", c as u32)
    }
}

/// `12ms`, `1.5s`.
pub fn format_duration(d: Duration) -> String {
    if d.as_secs() >= 1 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// The last `max` bytes of `text`, cut at a character boundary.
pub fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}
