//! Sends a camera to a tile, or a layout, to a screen of another workstation of the site,
//! through the site server (which checks and logs it); or lists the walls signed in.

use anyhow::bail;

use super::{Login, conn};

/// `vigie wall-send`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    conn: conn::ServerConn,
    /// The workstation's name (its `vigie live --name`, else its machine's).
    #[arg(long, required_unless_present = "list")]
    to: Option<String>,
    /// The screen's name there.
    #[arg(long, required_unless_present = "list")]
    screen: Option<String>,
    #[arg(long)]
    camera: Option<String>,
    /// 1-based tile (default: the screen's selected tile).
    #[arg(long, requires = "camera")]
    tile: Option<usize>,
    #[arg(long)]
    layout: Option<String>,
    /// Lists the workstations whose walls take commands now.
    #[arg(long, conflicts_with_all = ["to", "screen", "camera", "tile", "layout"])]
    list: bool,
    #[command(flatten)]
    login: Login,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        conn,
        to,
        screen,
        camera,
        tile,
        layout,
        list,
        login,
    } = args;
    let api = conn.sign_in(&login)?;
    if list {
        for w in api.connected_walls()? {
            println!(
                "{}\t{}\tsince {}",
                w.workstation,
                w.user,
                crate::time::paris_rfc3339(w.since_utc_ns)
            );
        }
        return Ok(());
    }
    let (Some(to), Some(screen)) = (to, screen) else {
        bail!("--to and --screen name the workstation and its screen");
    };
    if camera.is_none() && layout.is_none() {
        bail!("--camera or --layout: say what to put on screen {screen:?}");
    }
    if tile == Some(0) {
        bail!("--tile: tiles are numbered from 1");
    }
    let command = crate::client::wall::WallCommand {
        screen,
        camera,
        tile: tile.map(|t| t - 1),
        layout,
        by: String::new(),
    };
    let sent = api.send_wall_command(&to, &command)?;
    println!("sent to {to} ({} wall(s))", sent.delivered);
    Ok(())
}
