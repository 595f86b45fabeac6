//! Integration tests: the real server on `127.0.0.1:0`, real HTTP, real sled on disk.
//! One test binary (CI has two cores; one link step).

mod actions;
mod api;
mod bad_input;
mod blackbox;
mod click_to_call;
mod config;
mod corpus;
mod dashboard;
mod data_care;
mod deploy;
mod docs;
mod email_links;
mod escalation;
mod fakes;
mod helpers;
mod make_store_v1;
mod quirks;
mod reminders;
mod restart;
mod retention;
mod security;
mod smartflo_setup;
mod telegram_bot;
mod triggers;
