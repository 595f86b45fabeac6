//! A missed call (SPEC §5): a new pending callback, or one more missed call on the
//! customer's pending one.

use super::{CallRecord, CallRole, Ctx, Decision, Effect};
use crate::domain::callback::{Callback, Status, TimelineEntry, TimelineKind};

impl Ctx<'_> {
    pub(super) fn missed(&self) -> Decision {
        let customer = match self.customer() {
            Ok(c) => c,
            Err(why) => return Decision::recorded(why),
        };
        if let Some(call) = &self.snapshot.call {
            match call.role {
                CallRole::Answered => {
                    return Decision::recorded("this call was answered; nothing to call back");
                }
                CallRole::Missed => return self.missed_again(call),
                CallRole::Seen | CallRole::Attempt => {}
            }
        }
        if let Some(answered) = self.snapshot.last_answered_at
            && self.facts.started_at <= answered
        {
            return Decision::recorded(
                "the call started before the latest answered call with this customer; nothing reopened",
            );
        }
        let department = Some(self.department_name()).filter(|d| !d.is_empty());
        let mut entries = vec![
            self.entry(
                TimelineKind::MissedCall,
                self.facts
                    .missed_agents
                    .first()
                    .and_then(|a| a.name.clone()),
                None,
            ),
        ];
        let (callback, effect) = match &self.snapshot.pending {
            Some(pending) => {
                let mut cb = pending.clone();
                cb.missed_calls = cb.missed_calls.saturating_add(1);
                cb.first_missed_at = cb.first_missed_at.min(self.facts.started_at);
                cb.last_missed_at = cb.last_missed_at.max(self.facts.started_at);
                cb.last_received_at = self.meta.received_at;
                cb.reminder_due_at = self.first_reminder_at();
                (cb, Effect::Updated)
            }
            None => (
                Callback {
                    id: self.meta.new_callback_id,
                    customer_number: customer.clone(),
                    status: Status::Pending,
                    missed_calls: 1,
                    first_missed_at: self.facts.started_at,
                    last_missed_at: self.facts.started_at,
                    first_received_at: self.meta.received_at,
                    last_received_at: self.meta.received_at,
                    assigned_agent: None,
                    missed_agents: Vec::new(),
                    department: None,
                    attempts: 0,
                    reminders_sent: 0,
                    escalation_level: 0,
                    reminder_due_at: self.first_reminder_at(),
                    next_reminder_at: None,
                    rounds_issued: 0,
                    next_escalation_at: None,
                    telegram_messages: Vec::new(),
                    snoozed_until: None,
                    resolved_at: None,
                    resolution: None,
                    last_attempt_at: None,
                },
                Effect::Opened,
            ),
        };
        let mut cb = callback;
        self.merge_details(&mut cb, department, &mut entries);
        let call = self.call_record(CallRole::Missed, &customer, Some(cb.id));
        Decision {
            effect,
            callback: Some(cb),
            timeline: entries,
            call,
            last_answered_at: None,
            note: None,
        }
    }

    /// A further trigger for a call that was already counted (SPEC §5.1 "a call counts once").
    fn missed_again(&self, call: &CallRecord) -> Decision {
        let pending = self
            .snapshot
            .pending
            .as_ref()
            .filter(|p| Some(p.id) == call.callback);
        let Some(pending) = pending else {
            return Decision::recorded(
                "this call was already counted on a callback that is no longer pending",
            );
        };
        let mut cb = pending.clone();
        let mut entries = vec![
            self.entry(
                TimelineKind::MissedCallDetails,
                self.facts
                    .missed_agents
                    .first()
                    .and_then(|a| a.name.clone()),
                None,
            ),
        ];
        let department = Some(self.department_name()).filter(|d| !d.is_empty());
        self.merge_details(&mut cb, department, &mut entries);
        let customer = cb.customer_number.clone();
        Decision {
            effect: Effect::Updated,
            call: self.call_record(CallRole::Missed, &customer, Some(cb.id)),
            callback: Some(cb),
            timeline: entries,
            last_answered_at: None,
            note: Some("call already counted; details added".into()),
        }
    }

    /// Adds missed agents, department and (if nobody has it yet) the assignment.
    fn merge_details(
        &self,
        cb: &mut Callback,
        department: Option<String>,
        entries: &mut Vec<TimelineEntry>,
    ) {
        for agent in &self.facts.missed_agents {
            cb.add_missed_agent(agent.clone());
        }
        if cb.department.is_none()
            && let Some(d) = department
        {
            cb.department = Some(d.clone());
            entries.push(self.entry(TimelineKind::Department, None, Some(d)));
        }
        if cb.assigned_agent.is_none()
            && let Some(agent) = &self.facts.assignee
        {
            cb.assigned_agent = Some(agent.clone());
            entries.push(self.entry(
                TimelineKind::Assigned,
                Some(agent.name.clone()),
                Some("first agent who missed the call".into()),
            ));
        }
        cb.reschedule(self.rules);
    }
}
