//! Verifies the recorder's index against its files; exits non-zero naming what is wrong.

use std::path::{Path, PathBuf};

use anyhow::bail;

/// `vigie check`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    data: PathBuf,
    /// Also recompute every file's SHA-256.
    #[arg(long)]
    hash: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Args { data, hash } = args;
    check(&data, hash)
}

fn check(data: &Path, hash: bool) -> anyhow::Result<()> {
    if !data.join(crate::store::INDEX_FILE).exists() {
        bail!(
            "{}: no recording index here ({} is missing)",
            data.display(),
            crate::store::INDEX_FILE
        );
    }
    let report = crate::record::check::check(data, hash)?;
    for p in &report.problems {
        println!("{p}");
    }
    let what = if hash {
        "sizes, fragments and hashes"
    } else {
        "sizes and fragments"
    };
    if report.problems.is_empty() {
        eprintln!(
            "check: {} segments, {} bytes: {what} all good",
            report.segments, report.bytes
        );
        Ok(())
    } else {
        bail!(
            "{} problem(s) in {} segments ({what} checked)",
            report.problems.len(),
            report.segments
        )
    }
}
