//! The domain: phone numbers, agents, callbacks and the rules of their lifecycle.
//! Pure: no I/O, no clock, no configuration files — values in, values out.

pub mod actions;
pub mod agent;
pub mod call;
pub mod callback;
pub mod digest;
pub mod lifecycle;
pub mod phone;
pub mod reminder;
pub mod rules;
pub mod schedule;
pub mod sla;
pub mod stats;
pub mod weekly_hours;
