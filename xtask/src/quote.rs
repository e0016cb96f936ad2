//! Quoting spec text as data in the languages crosslab writes: POSIX shell,
//! Nix strings and Python strings. Every renderer and backend goes through here.

/// Quotes `s` as one POSIX shell word: `'…'`, with `'` written as `'\''`.
pub fn sh(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b)) {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Quotes `s` as a Nix double-quoted string literal: `"…"` with `\`, `"`,
/// `${` and control characters escaped, so the string means exactly `s`.
pub fn nix(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Quotes `s` as a Python string literal (JSON string syntax is valid Python
/// for every string once `\u` escapes are used for control characters).
pub fn python(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sh_quotes_only_when_needed() {
        assert_eq!(sh("aarch64-linux"), "aarch64-linux");
        assert_eq!(sh("it's"), r"'it'\''s'");
        assert_eq!(sh(""), "''");
        assert_eq!(sh("a b"), "'a b'");
        assert_eq!(sh("$HOME"), "'$HOME'");
    }

    #[test]
    fn nix_escapes_interpolation_and_quotes() {
        assert_eq!(nix("${pkgs.x}"), r#""\${pkgs.x}""#);
        assert_eq!(nix("$out"), r#""$out""#);
        assert_eq!(nix("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
    }
}
