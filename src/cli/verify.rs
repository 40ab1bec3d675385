//! Checks an export folder: the manifest's signature, every file against the manifest,
//! SHA256SUMS; exits non-zero naming what fails.

use std::path::PathBuf;

use super::evidence;

/// `vigie verify`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    dir: PathBuf,
    /// The installation's public key (PEM) the signature must be by.
    #[arg(long, conflicts_with = "data")]
    key: Option<PathBuf>,
    /// Or the installation's data folder, whose public key the signature must be by.
    #[arg(long, conflicts_with = "fingerprint")]
    data: Option<PathBuf>,
    /// Or the SHA-256 of the installation's signing key, as the site publishes it (`vigie
    /// server` prints it at start): the signature must be by that key.
    #[arg(long, conflicts_with = "key")]
    fingerprint: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        dir,
        key,
        data,
        fingerprint,
    } = args;
    evidence::verify(
        &dir,
        key.as_deref(),
        data.as_deref(),
        fingerprint.as_deref(),
    )
}
