//! Reporting verdicts: the terminal report and JSON.
