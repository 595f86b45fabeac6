//! Real protocol peers on loopback: an SMTP server lettre talks to, and a Telegram Bot API
//! server teloxide talks to.

pub mod smartflo;
pub mod smtp;
pub mod telegram;
