//! A citizen's request to see images of themselves: a masked copy (privacy masks painted
//! in, third parties pixelated, re-encoded) with a signed manifest, or a refusal with its
//! ground; either way recorded with the identity check.

use std::path::PathBuf;

use anyhow::bail;

use super::{Login, conn, evidence, parse_instant};

/// `vigie access-request`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The data folder (as the server's user), instead of the site server.
    #[arg(long, conflicts_with_all = ["server", "server_ca"])]
    data: Option<PathBuf>,
    #[command(flatten)]
    conn: conn::ServerConn,
    #[arg(long, value_delimiter = ',', required = true)]
    camera: Vec<String>,
    /// RFC 3339 instants.
    #[arg(long)]
    from: String,
    #[arg(long)]
    to: String,
    /// The request's reference.
    #[arg(long)]
    reference: String,
    /// Who asks.
    #[arg(long)]
    requester: String,
    /// How the identity was checked ("CNI no. ... seen by ...").
    #[arg(long)]
    identity_check: String,
    /// RFC 3339 instant the request was received (default: now).
    #[arg(long)]
    received: Option<String>,
    #[arg(long)]
    reason: String,
    /// The folder to create for the masked copy.
    #[arg(long, required_unless_present = "refuse", conflicts_with = "refuse")]
    out: Option<PathBuf>,
    /// A region to pixelate, CAMERA:"x,y x,y x,y ..." (picture fractions); repeatable.
    #[arg(long)]
    blur: Vec<String>,
    /// Refuses the request, on this ground.
    #[arg(long)]
    refuse: Option<String>,
    #[command(flatten)]
    login: Login,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        data,
        conn,
        camera,
        from,
        to,
        reference,
        requester,
        identity_check,
        received,
        reason,
        out,
        blur,
        refuse,
        login,
    } = args;
    let mut regions = Vec::new();
    for b in &blur {
        let Some((cam, poly)) = b.split_once(':') else {
            bail!("--blur {b:?}: CAMERA:\"x,y x,y x,y\"");
        };
        if !camera.iter().any(|c| c == cam) {
            bail!("--blur: camera {cam} is not one of --camera");
        }
        regions.push((cam.to_owned(), evidence::parse_polygon(poly)?));
    }
    let received = match received {
        Some(t) => parse_instant("--received", &t)?,
        None => crate::time::now_utc_ns(),
    };
    let Some(data) = data else {
        // Through the site server: it makes the masked copy (fetched here) or records
        // the refusal, and logs.
        parse_instant("--from", &from)?;
        parse_instant("--to", &to)?;
        let order = crate::client::exports::ExportOrder {
            cameras: camera,
            from,
            to,
            requisition: reference,
            officer: String::new(),
            reason,
            access: Some(crate::client::exports::AccessOrder {
                requester,
                identity_check,
                received: Some(received.to_string()),
                blur: regions
                    .into_iter()
                    .map(|(camera, points)| crate::client::exports::BlurZone { camera, points })
                    .collect(),
            }),
        };
        return match (refuse, out) {
            (Some(ground), _) => evidence::refuse_through_server(&conn, &login, order, &ground),
            (None, Some(out)) => evidence::export_from_server(&conn, &login, &order, &out),
            (None, None) => bail!("--out or --refuse"),
        };
    };
    let req = crate::export::Request {
        cameras: camera,
        from_utc_ns: parse_instant("--from", &from)?,
        to_utc_ns: parse_instant("--to", &to)?,
        out: out.unwrap_or_default(),
        requisition: reference,
        officer: String::new(),
        reason,
        access: Some(crate::export::CitizenAccess {
            requester,
            identity_check,
            received_utc_ns: received,
            blur: regions,
        }),
    };
    evidence::access_request(&data, &login, req, refuse.as_deref())
}
