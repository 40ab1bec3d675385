//! egui workspaces. Contract: runs on the UI thread; never blocks on I/O, GStreamer or SQL;
//! talks to streams through [`crate::media::FrameSlot`]s and draws video only through the
//! compositor's paint callback ([`video`]).

pub mod alarms;
mod export_dialog;
mod live;
pub mod login;
pub mod map;
pub mod mask_editor;
pub mod masks;
pub mod review;
pub mod video;

pub use export_dialog::ExportDialog;
pub use live::{Clock, LiveWorkspace, StreamProvider};
pub use mask_editor::{MaskEditor, MaskEditorApp, run_mask_editor};
pub use review::{ReviewApp, ReviewStart, ReviewWorkspace, run_review};

/// The live wall as an eframe application: the sign-in screen, then the wall.
pub struct LiveApp {
    workspace: LiveWorkspace,
    /// Until someone signs in: the form, and why the last sign-in was refused.
    sign_in: Option<(login::LoginScreen, Option<String>)>,
    /// What the window keeps alive as long as it is open (the demo's simulators, a local
    /// server); dropped after the workspace, whose last reports go to that server.
    _keep: Vec<Box<dyn std::any::Any>>,
}

impl LiveApp {
    fn setup(cc: &eframe::CreationContext<'_>) {
        if let Some(rs) = cc.wgpu_render_state.as_ref() {
            video::install_compositor(rs);
        }
        cc.egui_ctx.set_visuals(egui::Visuals::dark());
    }

    /// A wall shown at once (tests, and workspaces already signed in).
    pub fn new(
        cc: &eframe::CreationContext<'_>,
        workspace: LiveWorkspace,
        keep: Vec<Box<dyn std::any::Any>>,
    ) -> LiveApp {
        Self::setup(cc);
        LiveApp {
            workspace,
            sign_in: None,
            _keep: keep,
        }
    }

    /// A wall behind `login`, checked by the site server: nothing is decoded before a user
    /// allowed to view live video signs in.
    pub fn signing_in_with(
        cc: &eframe::CreationContext<'_>,
        workspace: LiveWorkspace,
        login: login::LoginScreen,
        keep: Vec<Box<dyn std::any::Any>>,
    ) -> LiveApp {
        Self::setup(cc);
        // The cameras, when they come from the server, are asked on the sign-in thread.
        let login = if workspace.takes_cameras_from_server() {
            login.prefetching(login::Prefetch::LiveCameras)
        } else {
            login
        };
        LiveApp {
            workspace,
            sign_in: Some((login, None)),
            _keep: keep,
        }
    }

    pub fn workspace(&mut self) -> &mut LiveWorkspace {
        &mut self.workspace
    }
}

impl eframe::App for LiveApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        if let Some((login, refused)) = &mut self.sign_in {
            if let Some(r) = refused {
                ui.colored_label(egui::Color32::from_rgb(240, 120, 90), r.as_str());
            }
            if let Some((session, signed_in)) = login.show(ui) {
                let signed = self.workspace.sign_in_at_server(
                    session,
                    std::sync::Arc::new(signed_in.api),
                    signed_in.live_cameras,
                );
                match signed {
                    Ok(()) => self.sign_in = None,
                    Err(e) => *refused = Some(e),
                }
            }
            return;
        }
        self.workspace.show(ui);
    }
}

/// Opens the live wall window on its sign-in screen, checked by the site server `server` (URL
/// and CA certificate), and runs until it is closed.
pub fn run_live(
    workspace: LiveWorkspace,
    server: (String, Vec<u8>),
    keep: Vec<Box<dyn std::any::Any>>,
    title: &str,
) -> Result<(), eframe::Error> {
    let options = native_options(title);
    eframe::run_native(
        "vigie",
        options,
        Box::new(move |cc| {
            let login = login::LoginScreen::server(&server.0, &server.1, "Vigie · Live");
            Ok(Box::new(LiveApp::signing_in_with(
                cc, workspace, login, keep,
            )))
        }),
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
