//! egui workspaces. Contract: runs on the UI thread; never blocks on I/O, GStreamer or SQL;
//! talks to streams through [`crate::media::FrameSlot`]s and draws video only through the
//! compositor's paint callback ([`video`]).

mod live;
pub mod review;
pub mod video;

pub use live::{Clock, LiveWorkspace, StreamProvider};
pub use review::{ReviewApp, ReviewWorkspace, run_review};

use crate::sim::CamSim;

/// The live wall as an eframe application.
pub struct LiveApp {
    workspace: LiveWorkspace,
    /// The demo's simulator, kept alive as long as the window.
    _sim: Option<CamSim>,
}

impl LiveApp {
    pub fn new(
        cc: &eframe::CreationContext<'_>,
        workspace: LiveWorkspace,
        sim: Option<CamSim>,
    ) -> LiveApp {
        if let Some(rs) = cc.wgpu_render_state.as_ref() {
            video::install_compositor(rs);
        }
        cc.egui_ctx.set_visuals(egui::Visuals::dark());
        LiveApp {
            workspace,
            _sim: sim,
        }
    }

    pub fn workspace(&mut self) -> &mut LiveWorkspace {
        &mut self.workspace
    }
}

impl eframe::App for LiveApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.workspace.show(ui);
    }
}

/// Opens the live wall window and runs until it is closed.
pub fn run_live(
    workspace: LiveWorkspace,
    sim: Option<CamSim>,
    title: &str,
) -> Result<(), eframe::Error> {
    let options = native_options(title);
    eframe::run_native(
        "vigie",
        options,
        Box::new(move |cc| Ok(Box::new(LiveApp::new(cc, workspace, sim)))),
    )
}

/// A 1600x900 window titled `title`, drawn with wgpu: what every Vigie window opens with.
pub(crate) fn native_options(title: &str) -> eframe::NativeOptions {
    eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(title)
            .with_inner_size([1600.0, 900.0]),
        renderer: eframe::Renderer::Wgpu,
        ..Default::default()
    }
}
