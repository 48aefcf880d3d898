//! The binary: the command line in `cli/`, every command a call into the
//! library. With no command it serves, as Cloud Run runs it.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
