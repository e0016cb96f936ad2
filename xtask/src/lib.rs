//! crosslab: lab specs for cross-architecture emulation with Nix, rendered to
//! a flake and run for real. `main.rs` is the command line; this is the library
//! the tests use too.
//!
//! The pipeline, one module per stage:
//! `spec` (TOML → Lab) → `plan` (Lab → registrations, Nix settings, probes)
//! → `render` (flake, NixOS tests) or `run` (backends → verdicts) → `report`.

pub mod bench;
pub mod cache;
pub mod capture;
pub mod diagnose;
pub mod doctor;
pub mod fix;
pub mod flags;
pub mod inspect;
pub mod lab_paths;
pub mod lab_run;
pub mod machine;
pub mod matrix;
pub mod outcome;
pub mod plan;
pub mod provision;
pub mod quote;
pub mod registrations;
pub mod render;
pub mod report;
pub mod run;
pub mod schema;
pub mod selection;
pub mod shell;
pub mod spec;
pub mod systems;
pub mod testsuite;
pub mod text;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

/// Runs the command line; the binary's `main`.
pub fn cli_main() -> ExitCode {
    // Die quietly on a closed pipe (`lab list | head`), as Unix tools do,
    // instead of panicking in println!.
    // SAFETY: setting a signal disposition to its default has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let flags = flags::Xtask::parse();
    match dispatch(flags) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            // 2: could not do the job at all (bad spec, missing prerequisite).
            ExitCode::from(2)
        }
    }
}

fn dispatch(flags: flags::Xtask) -> anyhow::Result<ExitCode> {
    let root = project_root();
    match flags.command {
        flags::Command::Lab(cmd) => match cmd {
            flags::LabCommand::List(f) => f.run(&root),
            flags::LabCommand::Show(f) => f.run(&root),
            flags::LabCommand::Check(f) => f.run(&root),
            flags::LabCommand::Render(f) => f.run(&root),
            flags::LabCommand::Run(f) => f.run(&root),
            flags::LabCommand::Matrix(f) => f.run(&root),
            flags::LabCommand::Doctor(f) => f.run(),
            flags::LabCommand::Fix(f) => f.run(&root),
            flags::LabCommand::Capture(f) => f.run(),
            flags::LabCommand::Shell(f) => f.run(&root),
            flags::LabCommand::Schema(f) => f.run(&root),
            flags::LabCommand::Cache(f) => f.run(),
        },
        flags::Command::Bench(f) => f.run(&root),
        flags::Command::Test(f) => f.run(&root),
    }
}

/// The repository root: the directory above `xtask/`.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask/ has a parent").to_path_buf()
}

/// The labs directory of the repository.
pub fn labs_dir(root: &Path) -> PathBuf {
    root.join("labs")
}

/// Loads the labs named on the command line, or every lab in labs/ when none.
pub fn load_labs(root: &Path, args: &[String]) -> anyhow::Result<Vec<spec::Lab>> {
    let dir = labs_dir(root);
    let paths = if args.is_empty() {
        spec::all_lab_files(&dir)?
    } else {
        args.iter().map(|a| spec::resolve(&dir, a)).collect()
    };
    paths.iter().map(|p| spec::load(p).map_err(anyhow::Error::from)).collect()
}
