//! `cargo xtask`: crosslab's command line (see `lib.rs` for the pipeline).

fn main() -> std::process::ExitCode {
    xtask::cli_main()
}
