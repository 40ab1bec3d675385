//! The `vigie` command: a thin front over the library (see `vigie --help`).

fn main() -> std::process::ExitCode {
    vigie::cli::main()
}
