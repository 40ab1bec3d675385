//! Privacy masks lifted by a supervisor on the live wall, with their controls.

/// Privacy masks lifted by a supervisor, for an emergency, on some cameras of one window:
/// each lift and restore is logged with its reason; closing the window restores them.
#[derive(Default)]
pub struct Lifts {
    lifted: std::collections::BTreeMap<String, String>,
    /// The reason being typed.
    reason: String,
    pub message: Option<String>,
}

impl Lifts {
    pub fn is_lifted(&self, camera: &str) -> bool {
        self.lifted.contains_key(camera)
    }

    /// Lifts `camera`'s masks for `session`, for `reason`; the entry goes to `log`.
    pub fn lift(
        &mut self,
        session: &crate::auth::Session,
        camera: &str,
        reason: &str,
        log: &mut dyn FnMut(crate::auth::audit::Entry),
    ) -> Result<(), String> {
        use crate::auth::Action;
        if !session.may(Action::LiftMask) {
            return Err(format!(
                "{} ({}) may not {}",
                session.user,
                session.role,
                Action::LiftMask.as_str()
            ));
        }
        if !session.may_see(camera) {
            return Err(format!("{} may not see camera {camera}", session.user));
        }
        if reason.trim().is_empty() {
            return Err("Lifting a privacy mask needs a reason".into());
        }
        log(session.entry("mask lifted", camera, None, reason.trim(), ""));
        self.lifted
            .insert(camera.to_owned(), reason.trim().to_owned());
        Ok(())
    }

    /// Puts `camera`'s masks back.
    pub fn restore(
        &mut self,
        session: &crate::auth::Session,
        camera: &str,
        log: &mut dyn FnMut(crate::auth::audit::Entry),
    ) {
        if let Some(reason) = self.lifted.remove(camera) {
            log(session.entry("mask restored", camera, None, &reason, ""));
        }
    }

    /// Restores every lifted mask (the window closes).
    pub fn restore_all(
        &mut self,
        session: &crate::auth::Session,
        log: &mut dyn FnMut(crate::auth::audit::Entry),
    ) {
        let cams: Vec<String> = self.lifted.keys().cloned().collect();
        for c in cams {
            self.restore(session, &c, log);
        }
    }

    /// The controls for the selected camera: a reason and "Lift masks", or "Restore masks".
    /// Shown only to roles that may lift, for a camera that has masks.
    pub fn controls(
        &mut self,
        ui: &mut egui::Ui,
        session: &crate::auth::Session,
        camera: Option<&str>,
        has_masks: bool,
        log: &mut dyn FnMut(crate::auth::audit::Entry),
    ) {
        let Some(camera) = camera else {
            return;
        };
        if !session.may(crate::auth::Action::LiftMask) || !(has_masks || self.is_lifted(camera)) {
            return;
        }
        if self.is_lifted(camera) {
            if ui
                .button(format!("Restore masks on {camera}"))
                .on_hover_text("Masks are lifted on this camera: logged")
                .clicked()
            {
                self.restore(session, camera, log);
            }
        } else {
            let l = ui.label("Lift masks, reason:");
            ui.add(egui::TextEdit::singleline(&mut self.reason).desired_width(140.0))
                .labelled_by(l.id);
            if ui
                .button(format!("Lift on {camera}"))
                .on_hover_text(
                    "Shows what the privacy masks hide, for an emergency; logged with the reason",
                )
                .clicked()
            {
                let reason = std::mem::take(&mut self.reason);
                match self.lift(session, camera, &reason, log) {
                    Ok(()) => self.message = None,
                    Err(e) => {
                        self.reason = reason;
                        self.message = Some(e);
                    }
                }
            }
        }
    }
}
