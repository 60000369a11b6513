//! `netwatch` command line: a thin layer over the library (`src/cli/`, one file per
//! subcommand). See `netwatch --help`.

use std::process::ExitCode;

use netwatch::alloc::CountingAlloc;

mod cli;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn main() -> ExitCode {
    cli::main()
}
