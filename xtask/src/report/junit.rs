//! JUnit XML for CI: one `<testsuite>` per lab, one `<testcase>` per probe
//! and system. A failure reproduced as the lab expects is a passing testcase
//! with the property `expected-failure`; a surprise is a `<failure>` holding
//! the diagnosis and its fix. The probe's command is the property `command`,
//! apart from the end of its output, in `<system-out>`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use crate::diagnose;
use crate::outcome::LabReport;
use crate::plan::Plan;
use crate::text::{escaped, last_lines};

/// The JUnit XML document for these labs' reports.
pub fn render(labs: &[(&Plan, &LabReport)]) -> String {
    let tests: usize = labs.iter().map(|(_, r)| r.verdicts.len()).sum();
    let failures: usize = labs.iter().map(|(_, r)| r.verdicts.iter().filter(|v| !v.as_expected).count()).sum();
    let secs = |d: std::time::Duration| format!("{:.3}", d.as_secs_f64());
    let total: std::time::Duration = labs.iter().flat_map(|(_, r)| &r.verdicts).map(|v| v.execution.duration).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"crosslab\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{}\">",
        secs(total)
    );
    for (plan, report) in labs {
        let failed = report.verdicts.iter().filter(|v| !v.as_expected).count();
        let time: std::time::Duration = report.verdicts.iter().map(|v| v.execution.duration).sum();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\" time=\"{}\">",
            attr(&report.lab),
            report.verdicts.len(),
            secs(time)
        );
        // The stack and what it ran with, when a session ran the lab.
        let versions: String = report
            .versions
            .iter()
            .flat_map(|v| {
                [
                    ("stack", v.stack),
                    ("nix", v.nix.as_str()),
                    ("qemu", v.qemu.as_str()),
                    ("qemu_package", v.qemu_package.as_str()),
                    ("kernel", v.kernel.as_str()),
                ]
            })
            .map(|(name, value)| format!("      <property name=\"{name}\" value=\"{}\"/>\n", attr(value)))
            .collect();
        let _ = writeln!(
            xml,
            "    <properties>\n      <property name=\"backend\" value=\"{}\"/>\n      <property name=\"host\" value=\"{}\"/>\n      <property name=\"description\" value=\"{}\"/>\n{versions}    </properties>",
            attr(report.backend),
            attr(plan.lab.host.as_str()),
            attr(&plan.lab.description)
        );
        for v in &report.verdicts {
            let _ = write!(
                xml,
                "    <testcase classname=\"crosslab.{}\" name=\"{}\" time=\"{}\">\n      <properties>\n        <property name=\"expect\" value=\"{}\"/>\n        <property name=\"verdict\" value=\"{}\"/>\n        <property name=\"command\" value=\"{}\"/>\n",
                attr(&report.lab),
                attr(&v.probe.id()),
                secs(v.execution.duration),
                attr(&v.probe.expect.describe()),
                v.word().as_str(),
                attr(&v.probe.command)
            );
            if v.as_expected && !v.passed {
                xml.push_str("        <property name=\"expected-failure\" value=\"true\"/>\n");
            }
            xml.push_str("      </properties>\n");
            if !v.as_expected {
                let mut message = format!("expected {}; got {}", v.probe.expect.describe(), v.status_text());
                let mut body = String::new();
                if let Some(d) = diagnose::diagnose(plan, v) {
                    message.push_str(&format!(": {}", d.summary));
                    body.push_str(&format!("diagnosis: {}\nfix: {}\n", d.detail, d.fix));
                }
                let _ = writeln!(
                    xml,
                    "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                    v.word().as_str(),
                    attr(&message),
                    text(&body)
                );
            }
            let output = last_lines(&v.execution.output, 200).join("\n");
            if !output.is_empty() {
                let _ = writeln!(xml, "      <system-out>{}</system-out>", text(&output));
            }
            xml.push_str("    </testcase>\n");
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// Writes [`render`]'s document to `path`.
pub fn write(path: &Path, labs: &[(&Plan, &LabReport)]) -> anyhow::Result<()> {
    std::fs::write(path, render(labs)).with_context(|| format!("failed to write JUnit report `{}`", path.display()))
}

/// Whether XML 1.0 allows `c` at all (its `Char` production).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Character data: markup escaped, characters XML cannot hold (NUL, ESC and
/// the other controls but tab and line breaks) written as visible escapes
/// such as `\x1b`, so the report still shows they were there.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            c if !is_xml_char(c) => out.push_str(&escaped(c)),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// An attribute value in double quotes; line breaks and tabs kept as
/// references, which attribute normalisation would otherwise turn into spaces;
/// characters XML cannot hold escaped as in [`text`].
pub fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            c if !is_xml_char(c) => out.push_str(&escaped(c)),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{attr, text};

    #[test]
    fn markup_is_escaped_and_forbidden_characters_shown_as_escapes() {
        assert_eq!(text("a<b>&c]]>\u{0}\u{1b}[0m\u{FFFE}"), r"a&lt;b&gt;&amp;c]]&gt;\x00\x1b[0m\u{fffe}");
        assert_eq!(attr("\u{7}bell"), r"\x07bell");
        assert_eq!(attr("say \"hi\"\n'x'\t"), "say &quot;hi&quot;&#10;&apos;x&apos;&#9;");
    }

    #[test]
    fn a_suite_records_the_stack_and_versions_it_ran_with() {
        let text = include_str!("../../../labs/non-nixos-aarch64-fix-f.toml");
        let lab = crate::spec::parse("fix-f", std::path::Path::new("fix-f.toml"), text).unwrap();
        let plan = crate::plan::Plan::new(&lab, "x86_64");
        let mut report =
            super::LabReport { lab: lab.name.clone(), backend: "host", verdicts: Vec::new(), versions: None };
        assert!(!super::render(&[(&plan, &report)]).contains("name=\"stack\""), "no session, no stack");
        report.versions = Some(crate::outcome::Versions {
            stack: "trixie",
            nix: "2.26.3+dfsg-1".into(),
            qemu: "10.0.13".into(),
            qemu_package: "qemu-user-static".into(),
            kernel: "6.18.44".into(),
        });
        let xml = super::render(&[(&plan, &report)]);
        for property in [
            r#"<property name="stack" value="trixie"/>"#,
            r#"<property name="nix" value="2.26.3+dfsg-1"/>"#,
            r#"<property name="qemu" value="10.0.13"/>"#,
            r#"<property name="qemu_package" value="qemu-user-static"/>"#,
            r#"<property name="kernel" value="6.18.44"/>"#,
        ] {
            assert!(xml.contains(property), "{property} in\n{xml}");
        }
    }
}
