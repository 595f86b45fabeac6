//! The timing rules in force (SPEC §3 `[webhook]`, `[reminders]`), as the domain needs them.
//! Built from configuration at startup; passed with every write so a later change of rules
//! applies to what happens next.

use chrono::Duration;

use super::schedule::BusinessHours;

#[derive(Debug, Clone)]
pub struct Rules {
    /// An answered call shorter than this does not clear (when `billsec` is known).
    pub min_talk_seconds: u32,
    /// First reminder this long after the latest missed call.
    pub first_after: Duration,
    /// Then again at this interval.
    pub repeat_every: Duration,
    /// When reminders may go out.
    pub business_hours: BusinessHours,
}

impl Rules {
    /// A fingerprint of what decides `next_reminder_at`; when it changes between runs,
    /// pending callbacks are rescheduled.
    pub fn schedule_fingerprint(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.business_hours.expression(),
            self.business_hours.zone(),
            self.first_after.num_seconds(),
            self.repeat_every.num_seconds()
        )
    }
}
