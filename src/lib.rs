//! Ringback: makes sure no customer's missed call is forgotten.
//!
//! Data flows one way: HTTP ([`web`]) → Smartflo payloads ([`smartflo`]) → lifecycle rules
//! ([`domain`]) → storage ([`store`]).

pub mod cli;
pub mod clock;
pub mod config;
pub mod data_dir;
pub mod domain;
pub mod smartflo;
pub mod startup;
pub mod store;
pub mod tokens;
pub mod web;
