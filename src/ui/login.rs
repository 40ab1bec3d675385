//! The sign-in screen every Vigie window opens on: a named user and their password, checked on
//! a thread of its own (Argon2id takes tens of milliseconds, a server round trip more; the UI
//! never waits), by the site server over TLS. The server writes every attempt to the audit log.

use std::sync::mpsc;

use crate::auth::{Role, Session};

/// The site server a sign-in is checked by, trusting the CA `ca_pem`.
#[derive(Clone)]
struct SignInTarget {
    url: String,
    ca_pem: Vec<u8>,
}

/// What a window needs of the server once signed in, asked on the sign-in thread so that the
/// UI thread never waits on the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Prefetch {
    #[default]
    Nothing,
    /// The cameras the user may see (`GET /v1/cameras`).
    Cameras,
    /// The cameras the user may watch live, with their addresses (`GET /v1/live/cameras`),
    /// when the role allows live view.
    LiveCameras,
}

/// A sign-in the server checked: its signed-in connection and what was asked of it.
pub struct SignedIn {
    pub api: crate::client::Api,
    /// With [`Prefetch::Cameras`].
    pub cameras: Vec<crate::client::ApiCamera>,
    /// With [`Prefetch::LiveCameras`] (none for a role without live view).
    pub live_cameras: Vec<crate::config::Camera>,
}

/// A checked sign-in: the session and what came with it; else why not.
type Checked = Result<(Session, SignedIn), String>;

/// A sign-in form.
pub struct LoginScreen {
    target: SignInTarget,
    title: String,
    user: String,
    password: String,
    pending: Option<mpsc::Receiver<Checked>>,
    prefetch: Prefetch,
    error: Option<String>,
    /// The user field was given the keyboard focus once. Asking again every frame while it is
    /// unfocused fights the window system's own focus handling: a real window then spins and
    /// takes no input at all.
    focus_asked: bool,
}

impl LoginScreen {
    /// A form checked by the site server at `url`, trusting the CA `ca_pem`. Nothing of any
    /// data folder is read: the server alone knows its accounts.
    pub fn server(url: &str, ca_pem: &[u8], title: &str) -> LoginScreen {
        LoginScreen {
            target: SignInTarget {
                url: url.to_owned(),
                ca_pem: ca_pem.to_vec(),
            },
            title: title.to_owned(),
            user: String::new(),
            password: String::new(),
            pending: None,
            prefetch: Prefetch::Nothing,
            error: None,
            focus_asked: false,
        }
    }

    /// Also asks the server for `prefetch` on the sign-in thread.
    pub fn prefetching(mut self, prefetch: Prefetch) -> LoginScreen {
        self.prefetch = prefetch;
        self
    }

    fn submit(&mut self, ctx: &egui::Context) {
        if self.user.trim().is_empty() || self.password.is_empty() {
            self.error = Some("Enter your user name and password".into());
            return;
        }
        let (tx, rx) = mpsc::channel();
        let (target, prefetch) = (self.target.clone(), self.prefetch);
        let user = self.user.trim().to_owned();
        // The password leaves the form: it is kept nowhere once checked.
        let password = std::mem::take(&mut self.password);
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("sign-in".into())
            .spawn(move || {
                let r = check(&target, &user, &password, prefetch);
                let _ = tx.send(r);
                ctx.request_repaint();
            });
        match spawned {
            Ok(_) => {
                self.pending = Some(rx);
                self.error = None;
            }
            Err(e) => self.error = Some(format!("cannot check the password: {e}")),
        }
    }

    /// The two fields, in a grid.
    fn fields(&mut self, ui: &mut egui::Ui, submit: &mut bool) {
        egui::Grid::new("sign-in").num_columns(2).show(ui, |ui| {
            let l = ui.label("User");
            let r = ui
                .add(egui::TextEdit::singleline(&mut self.user).desired_width(220.0))
                .labelled_by(l.id);
            if !self.focus_asked {
                self.focus_asked = true;
                r.request_focus();
            }
            ui.end_row();
            let l = ui.label("Password");
            let r = ui
                .add(
                    egui::TextEdit::singleline(&mut self.password)
                        .password(true)
                        .desired_width(220.0),
                )
                .labelled_by(l.id);
            if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                *submit = true;
            }
            ui.end_row();
        });
    }

    /// Draws the form; returns the session and its signed-in connection (with what was
    /// prefetched) once a sign-in succeeds.
    pub fn show(&mut self, ui: &mut egui::Ui) -> Option<(Session, SignedIn)> {
        if let Some(rx) = &self.pending {
            match rx.try_recv() {
                Ok(Ok(signed)) => {
                    self.pending = None;
                    return Some(signed);
                }
                Ok(Err(e)) => {
                    self.pending = None;
                    self.error = Some(e);
                }
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.pending = None;
                    self.error = Some("the sign-in check stopped unexpectedly".into());
                }
            }
        }
        let ctx = ui.ctx().clone();
        let mut submit = false;
        egui::CentralPanel::default().show(ui, |ui| {
            ui.vertical_centered(|ui| {
                ui.add_space(ui.available_height() * 0.25);
                ui.heading(&self.title);
                ui.label("Sign in with your own account. Every sign-in is recorded.");
                ui.add_space(12.0);
                // A grid lays out from the left edge whatever its parent's alignment: give it a
                // column of its own width in the middle of the screen.
                let width = 300.0_f32.min(ui.available_width());
                let pad = ((ui.available_width() - width) / 2.0).max(0.0);
                ui.horizontal(|ui| {
                    ui.add_space(pad);
                    ui.vertical(|ui| {
                        ui.set_width(width);
                        self.fields(ui, &mut submit);
                    });
                });
                ui.add_space(8.0);
                if self.pending.is_some() {
                    ui.spinner();
                } else if ui.button("Sign in").clicked() {
                    submit = true;
                }
                if let Some(e) = &self.error {
                    ui.colored_label(egui::Color32::from_rgb(240, 120, 90), e);
                }
            });
        });
        if submit && self.pending.is_none() {
            self.submit(&ctx);
        }
        None
    }
}

/// Checks a password at the server `target`; the session and the signed-in connection with
/// what `prefetch` asks on success, else why not.
fn check(target: &SignInTarget, user: &str, password: &str, prefetch: Prefetch) -> Checked {
    let SignInTarget { url, ca_pem } = target;
    let mut api = crate::client::Api::new(url, ca_pem).map_err(|e| e.to_string())?;
    let info = api.sign_in(user, password).map_err(|e| e.to_string())?;
    let role = Role::parse(&info.role)
        .ok_or_else(|| format!("the server gave an unknown role {:?}", info.role))?;
    let mut signed_in = SignedIn {
        api,
        cameras: Vec::new(),
        live_cameras: Vec::new(),
    };
    match prefetch {
        Prefetch::Nothing => {}
        Prefetch::Cameras => {
            signed_in.cameras = signed_in.api.cameras().map_err(|e| e.to_string())?;
        }
        Prefetch::LiveCameras if crate::auth::allowed(role, crate::auth::Action::ViewLive) => {
            signed_in.live_cameras = signed_in.api.live_cameras().map_err(|e| e.to_string())?;
        }
        Prefetch::LiveCameras => {}
    }
    Ok((
        Session {
            user: info.user,
            role,
            cameras: info.cameras,
        },
        signed_in,
    ))
}
