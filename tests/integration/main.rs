//! Integration tests: the real server on `127.0.0.1:0`, real HTTP, real sled on disk.
//! One test binary (CI has two cores; one link step).

mod actions;
mod api;
mod bad_input;
mod blackbox;
mod click_to_call;
mod click_to_call_legs;
mod config;
mod corpus;
mod dashboard;
mod dashboard_hardening;
mod dashboard_lists;
mod data_care;
mod deploy;
mod digests;
mod docs;
mod email_links;
mod escalation;
mod fakes;
mod helpers;
mod ingest_hardening;
mod log_forging;
mod quirks;
mod reminders;
mod replicas;
mod restart;
mod retention;
mod security;
mod service_levels;
mod slow_clients;
mod smartflo_setup;
mod storage_faults;
mod store_format;
mod telegram_bot;
mod triggers;
mod unreadable_numbers;
