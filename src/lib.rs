//! Ringback: makes sure no customer's missed call is forgotten.
//!
//! Data flows one way: HTTP ([`web`]) → Smartflo payloads ([`smartflo`]) → lifecycle rules
//! ([`domain`]) → storage ([`store`]) → the [`scheduler`] → notifications ([`notify`]).

pub mod admin;
pub mod assemble;
pub mod bot;
pub mod cli;
pub mod clock;
pub mod config;
pub mod data_dir;
pub mod display;
pub mod domain;
pub mod export;
pub mod links;
pub mod metrics;
pub mod notify;
pub mod operations;
pub mod scheduler;
pub mod setup;
pub mod smartflo;
pub mod startup;
pub mod store;
pub mod templating;
pub mod tokens;
pub mod web;
