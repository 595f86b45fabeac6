//! Ringback: makes sure no customer's missed call is forgotten.
//!
//! The doors — HTTP ([`web`]), the Telegram [`bot`], the [`scheduler`]'s clock, the
//! command line ([`cli`], [`admin`]) — hand what arrives to the application layer ([`app`]),
//! which reads through the store contract ([`store`]), decides with the pure [`domain`]
//! (Smartflo payloads are read into it by [`smartflo`]), and hands the store one plan to
//! apply. Notifications go out through [`notify`].

pub mod admin;
pub mod app;
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
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod replay;
pub mod scheduler;
pub mod setup;
pub mod smartflo;
pub mod startup;
pub mod store;
pub mod templating;
pub mod tokens;
pub mod web;
