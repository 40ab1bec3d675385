//! The alarm state machine: new -> acknowledged -> in progress -> closed, with an owner and
//! comments. Pure: the index applies a [`Change`] in one transaction, so two operators acting
//! on the same alarm at once cannot both win.

/// Where an alarm stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlarmState {
    New,
    Acknowledged,
    InProgress,
    Closed,
}

impl AlarmState {
    pub const ALL: [AlarmState; 4] = [
        AlarmState::New,
        AlarmState::Acknowledged,
        AlarmState::InProgress,
        AlarmState::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::New => "new",
            AlarmState::Acknowledged => "acknowledged",
            AlarmState::InProgress => "in progress",
            AlarmState::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<AlarmState> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What an operator does to an alarm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlarmAction {
    /// "I have seen it": new -> acknowledged, the user becomes its owner.
    Acknowledge,
    /// "I am handling it": new or acknowledged -> in progress (a supervisor may take an alarm
    /// another holds).
    Take,
    /// Closes it; alert-button alarms need a comment.
    Close,
    /// A comment, the state unchanged.
    Comment,
}

impl AlarmAction {
    /// The audit log's name for it.
    pub fn audit_action(&self) -> &'static str {
        match self {
            AlarmAction::Acknowledge => "alarm acknowledged",
            AlarmAction::Take => "alarm taken",
            AlarmAction::Close => "alarm closed",
            AlarmAction::Comment => "alarm comment",
        }
    }
}

/// What the alarm looks like to the state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    pub id: i64,
    pub state: AlarmState,
    pub owner: Option<String>,
    pub comment_required: bool,
}

/// The state and owner after an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub state: AlarmState,
    pub owner: Option<String>,
    pub comment: String,
}

/// Why an action was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AlarmError {
    #[error("alarm {id} is already {state}")]
    Already { id: i64, state: &'static str },
    #[error("alarm {id} is closed")]
    Closed { id: i64 },
    #[error("alarm {id} is held by {owner}; only they or a supervisor may do that")]
    HeldBy { id: i64, owner: String },
    #[error(
        "alarm {id} came from an alert button: closing it needs a comment saying what was done"
    )]
    CommentRequired { id: i64 },
    #[error("a comment cannot be empty")]
    EmptyComment,
    #[error("alarm {id} does not exist")]
    Unknown { id: i64 },
}

/// Decides what `action` by `user` (a supervisor when `supervisor`) does to `alarm`.
pub fn plan(
    alarm: &Standing,
    action: &AlarmAction,
    user: &str,
    supervisor: bool,
    comment: &str,
) -> Result<Change, AlarmError> {
    let id = alarm.id;
    let comment = comment.trim().to_owned();
    if alarm.state == AlarmState::Closed {
        return Err(AlarmError::Closed { id });
    }
    let held_by_other = alarm
        .owner
        .as_deref()
        .filter(|o| *o != user && !supervisor)
        .map(|o| AlarmError::HeldBy {
            id,
            owner: o.to_owned(),
        });
    let change = |state, owner: Option<String>| Change {
        state,
        owner,
        comment: comment.clone(),
    };
    match action {
        AlarmAction::Acknowledge => match alarm.state {
            AlarmState::New => Ok(change(AlarmState::Acknowledged, Some(user.to_owned()))),
            s => Err(AlarmError::Already {
                id,
                state: s.as_str(),
            }),
        },
        AlarmAction::Take => {
            if alarm.state == AlarmState::InProgress && alarm.owner.as_deref() == Some(user) {
                return Err(AlarmError::Already {
                    id,
                    state: AlarmState::InProgress.as_str(),
                });
            }
            if let Some(e) = held_by_other {
                return Err(e);
            }
            Ok(change(AlarmState::InProgress, Some(user.to_owned())))
        }
        AlarmAction::Close => {
            if let Some(e) = held_by_other {
                return Err(e);
            }
            if alarm.comment_required && comment.is_empty() {
                return Err(AlarmError::CommentRequired { id });
            }
            Ok(change(
                AlarmState::Closed,
                alarm.owner.clone().or(Some(user.to_owned())),
            ))
        }
        AlarmAction::Comment => {
            if comment.is_empty() {
                return Err(AlarmError::EmptyComment);
            }
            Ok(change(alarm.state, alarm.owner.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(state: AlarmState, owner: Option<&str>, comment_required: bool) -> Standing {
        Standing {
            id: 7,
            state,
            owner: owner.map(str::to_owned),
            comment_required,
        }
    }

    #[test]
    fn the_life_of_an_alarm() {
        let a = alarm(AlarmState::New, None, false);
        let c = plan(&a, &AlarmAction::Acknowledge, "op1", false, "").expect("ack");
        assert_eq!(
            (c.state, c.owner.as_deref()),
            (AlarmState::Acknowledged, Some("op1"))
        );
        let a = alarm(AlarmState::Acknowledged, Some("op1"), false);
        assert_eq!(
            plan(&a, &AlarmAction::Acknowledge, "op1", false, ""),
            Err(AlarmError::Already {
                id: 7,
                state: "acknowledged"
            })
        );
        // Another operator cannot take or close what op1 holds; a supervisor can.
        assert!(matches!(
            plan(&a, &AlarmAction::Take, "op2", false, ""),
            Err(AlarmError::HeldBy { .. })
        ));
        let c = plan(&a, &AlarmAction::Take, "chef", true, "").expect("supervisor takes");
        assert_eq!(
            (c.state, c.owner.as_deref()),
            (AlarmState::InProgress, Some("chef"))
        );
        let a = alarm(AlarmState::InProgress, Some("op1"), false);
        let c = plan(&a, &AlarmAction::Close, "op1", false, "").expect("close");
        assert_eq!(c.state, AlarmState::Closed);
        let a = alarm(AlarmState::Closed, Some("op1"), false);
        assert_eq!(
            plan(&a, &AlarmAction::Comment, "op1", false, "late"),
            Err(AlarmError::Closed { id: 7 })
        );
        // Comments need text; anyone may comment an open alarm.
        let a = alarm(AlarmState::InProgress, Some("op1"), false);
        assert_eq!(
            plan(&a, &AlarmAction::Comment, "op2", false, "  "),
            Err(AlarmError::EmptyComment)
        );
        assert!(plan(&a, &AlarmAction::Comment, "op2", false, "seen too").is_ok());
    }

    #[test]
    fn an_alert_button_alarm_is_closed_only_with_a_comment() {
        let a = alarm(AlarmState::InProgress, Some("op1"), true);
        assert_eq!(
            plan(&a, &AlarmAction::Close, "op1", false, " "),
            Err(AlarmError::CommentRequired { id: 7 })
        );
        let c = plan(
            &a,
            &AlarmAction::Close,
            "op1",
            false,
            "patrol PM-2 on site, false alarm",
        )
        .expect("closed");
        assert_eq!(c.comment, "patrol PM-2 on site, false alarm");
        // Closing straight from new is allowed (a duplicate), with the same rule.
        let a = alarm(AlarmState::New, None, true);
        assert!(plan(&a, &AlarmAction::Close, "op2", false, "").is_err());
        let c = plan(&a, &AlarmAction::Close, "op2", false, "duplicate of 6").expect("closed");
        assert_eq!(c.owner.as_deref(), Some("op2"));
    }
}
