//! Takes events (smart cameras, alert buttons) and patrol positions, and makes alarms:
//! POST /v1/events, POST /v1/positions, GET /v1/health; positions also over UDP.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::events::service::TlsOptions;

use super::alarms;

/// `vigie events`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The installation's data folder (alarms go to its index).
    #[arg(long)]
    data: PathBuf,
    /// Cameras file: where each camera is, to link the nearest ones to an alarm.
    #[arg(long)]
    cameras: PathBuf,
    /// HTTP address (loopback by default: put a TLS proxy in front to open it wider).
    #[arg(long, default_value = "127.0.0.1:8610")]
    listen: SocketAddr,
    /// UDP address for vehicle positions, one JSON report per datagram.
    #[arg(long)]
    udp: Option<SocketAddr>,
    /// Alarm rules, alert buttons and event sources (TOML); built-in rules without it.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Also listens here with HTTPS, for senders on the network.
    #[arg(long, requires_all = ["tls_cert", "tls_key"])]
    tls_listen: Option<SocketAddr>,
    /// The HTTPS certificate chain (PEM).
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long)]
    tls_key: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        data,
        cameras,
        listen,
        udp,
        rules,
        tls_listen,
        tls_cert,
        tls_key,
    } = args;
    alarms::events(
        &data,
        &cameras,
        (listen, udp),
        rules.as_deref(),
        match (tls_listen, tls_cert, tls_key) {
            (Some(listen), Some(cert), Some(key)) => Some(TlsOptions { listen, cert, key }),
            _ => None,
        },
    )
}
