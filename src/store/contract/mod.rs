//! The store contract suite: what every backend promises, one case per promise, written
//! against the [`Store`] trait only. A backend runs it with [`contract_tests!`], giving a
//! [`Fixture`] that makes a fresh, empty store (and can reopen it); `cargo test` runs it
//! against every backend.

mod cases;
mod filters;
mod outbox;
pub mod values;

pub use cases::*;
pub use filters::*;
pub use outbox::*;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::Store;

/// A fresh store for one case, and a way to close and open it again (to see what lasted).
pub trait Fixture: Send + Sync + 'static {
    fn store(&self) -> Arc<dyn Store>;
    /// Closes the current store and opens the same data again.
    fn reopen(&self) -> Pin<Box<dyn Future<Output = Arc<dyn Store>> + Send + '_>>;
}

/// One `#[tokio::test]` per case of the suite, each with a fresh store from `$make`
/// (an async function returning a [`Fixture`]).
#[macro_export]
macro_rules! contract_tests {
    ($make:path) => {
        $crate::contract_tests!(@cases $make;
            a_plan_is_applied_all_or_nothing,
            at_most_one_pending_callback_per_customer_even_when_plans_race,
            plans_and_lookups_made_together_are_answered_each_on_its_own,
            a_plan_decided_from_an_old_version_conflicts,
            a_customer_version_covers_the_pending_callback_and_the_latest_answered_call,
            a_delivery_without_a_call_is_remembered_once,
            what_was_applied_is_there_after_reopening,
            pending_callbacks_page_oldest_first_then_resolved_newest_first,
            a_filter_finds_matches_beyond_the_first_page_and_pages_through_them,
            the_pending_breakdown_counts_every_pending_callback_by_agent_and_department,
            a_garbage_cursor_is_not_a_first_page,
            due_callbacks_come_earliest_first_and_a_round_is_claimed_once,
            a_delivery_is_leased_to_one_taker_until_its_lease_runs_out,
            a_settlement_from_someone_who_lost_the_lease_conflicts,
            released_deliveries_can_be_taken_again_at_once,
            retention_never_touches_what_is_pending,
            the_event_log_keeps_bodies_whole_in_receive_order,
            unreadable_numbers_are_listed_newest_first_from_a_moment_on,
            rules_edits_are_audited_newest_first,
            a_rules_reset_clears_the_saved_rules_and_is_audited,
            telegram_state_survives_and_unknown_chats_are_counted,
            the_schedule_fingerprint_is_kept,
            a_probe_is_a_durable_write_and_health_is_ready,
            raw_events_can_go_before_the_callbacks_they_touched,
            a_digest_moment_is_claimed_once_with_its_deliveries,
            an_ended_session_stays_ended_until_its_time_then_is_forgotten,
        );
    };
    (@cases $make:path; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture = $make().await;
                $crate::store::contract::$case(&fixture).await;
            }
        )+
    };
}
