//! An answered call clears the customer's pending callback (SPEC §5); attempts,
//! dispositions, a department learnt later and informational events are notes on it.

use super::{CallRecord, CallRole, Ctx, Decision, Effect, customer_of};
use crate::domain::callback::{Resolution, ResolutionKind, Status, TimelineKind};

impl Ctx<'_> {
    pub(super) fn answered(&self, kind: ResolutionKind) -> Decision {
        let customer = match self.customer() {
            Ok(c) => c,
            Err(why) => return Decision::recorded(why),
        };
        let started = self.facts.started_at;
        if let Some(billsec) = self.facts.billsec
            && billsec < self.rules.min_talk_seconds
        {
            let note = format!(
                "answered for {billsec}s, under min_talk_seconds ({}s); does not clear",
                self.rules.min_talk_seconds
            );
            return self.note_on_pending(TimelineKind::AnsweredNotCleared, note);
        }
        let last_answered_at = match self.snapshot.last_answered_at {
            Some(previous) if previous >= started => None,
            _ => Some(started),
        };
        let call = self.call_record(CallRole::Answered, &customer, None);
        let mut decision = match &self.snapshot.pending {
            None => Decision::recorded("nothing pending for this customer"),
            // A call placed for this very callback resolves it whatever the clocks say.
            Some(cb) if !self.snapshot.by_reference && started < cb.first_missed_at => {
                Decision::recorded(
                    "the answered call started before the first missed call; still pending",
                )
            }
            Some(cb) if !self.snapshot.by_reference && started < cb.last_missed_at => {
                let note =
                    "a missed call after this answered call still needs a call-back".to_string();
                let mut d = self.note_on(cb, TimelineKind::AnsweredNotCleared, note.clone());
                d.note = Some(note);
                d
            }
            Some(pending) => {
                let mut cb = pending.clone();
                cb.status = Status::Resolved;
                cb.resolved_at = Some(self.meta.received_at);
                cb.reminder_due_at = None;
                cb.snoozed_until = None;
                cb.reschedule(self.rules);
                cb.resolution = Some(Resolution {
                    kind,
                    call_id: self.facts.call_id.clone(),
                    agent: self.facts.answered_by.clone(),
                    at: started,
                    reason: None,
                });
                let entry =
                    self.entry(TimelineKind::Answered, self.facts.answered_by.clone(), None);
                Decision {
                    effect: Effect::Resolved,
                    callback: Some(cb),
                    timeline: vec![entry],
                    call: None,
                    last_answered_at: None,
                    note: None,
                }
            }
        };
        decision.last_answered_at = last_answered_at;
        decision.call = call.map(|mut c| {
            c.callback = decision.callback_id().or(c.callback);
            c
        });
        decision
    }

    pub(super) fn attempt(&self) -> Decision {
        let customer = match self.customer() {
            Ok(c) => c,
            Err(why) => return Decision::recorded(why),
        };
        if matches!(&self.snapshot.call, Some(c) if c.role == CallRole::Attempt) {
            return Decision::recorded("this call-back attempt was already counted");
        }
        let call = self.call_record(CallRole::Attempt, &customer, None);
        let decision = match &self.snapshot.pending {
            None => Decision::recorded("nothing pending for this customer"),
            Some(cb)
                if !self.snapshot.by_reference && self.facts.started_at < cb.first_missed_at =>
            {
                Decision::recorded(
                    "the call started before the first missed call; not a call-back attempt",
                )
            }
            Some(pending) => {
                let mut cb = pending.clone();
                cb.attempts = cb.attempts.saturating_add(1);
                cb.last_attempt_at = Some(self.meta.received_at);
                // Enough failed attempts may bring the first escalation step forward.
                cb.reschedule(self.rules);
                let entry = self.entry(
                    TimelineKind::Attempt,
                    self.facts.answered_by.clone(),
                    Some("the customer did not answer".into()),
                );
                Decision {
                    effect: Effect::Attempt,
                    callback: Some(cb),
                    timeline: vec![entry],
                    call: None,
                    last_answered_at: None,
                    note: None,
                }
            }
        };
        match call {
            Some(mut c) => {
                c.callback = decision.callback_id().or(c.callback);
                decision.with_call(c)
            }
            None => decision,
        }
    }

    pub(super) fn disposition(&self, text: &str) -> Decision {
        let mut d = self.note_on_pending(TimelineKind::Disposition, text.to_string());
        d.note = Some(if d.callback.is_some() {
            "disposition noted on the pending callback".into()
        } else {
            "nothing pending for this customer".into()
        });
        d
    }

    pub(super) fn department_known(&self) -> Decision {
        let Some(department) = self.facts.department.clone() else {
            return Decision::recorded("no department name in the event");
        };
        let mut decision =
            Decision::recorded(format!("department {department:?} kept for the call"));
        if self.facts.call_id.is_some() {
            let previous = self.snapshot.call.clone();
            let customer = customer_of(self.facts, previous.as_ref());
            decision.call = Some(CallRecord {
                customer,
                role: previous.as_ref().map_or(CallRole::Seen, |c| c.role),
                callback: previous.as_ref().and_then(|c| c.callback),
                department: Some(department.clone()),
                started_at: previous
                    .as_ref()
                    .map_or(self.facts.started_at, |c| c.started_at),
            });
            if let Some(pending) = &self.snapshot.pending
                && previous.as_ref().and_then(|c| c.callback) == Some(pending.id)
                && pending.department.is_none()
            {
                let mut cb = pending.clone();
                cb.department = Some(department.clone());
                decision.timeline =
                    vec![self.entry(TimelineKind::Department, None, Some(department))];
                decision.callback = Some(cb);
            }
        }
        decision
    }

    pub(super) fn record(&self) -> Decision {
        Decision::recorded("informational event")
    }
}
