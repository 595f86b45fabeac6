//! Email over SMTP with lettre: one pooled async transport built from `smtp_url` at start.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::SendResult;
use crate::config::EmailSettings;

/// Connecting to the SMTP server (lettre applies its timeout to the connection only).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// One whole message, from connecting to the server's last answer. lettre 0.11 puts no
/// limit on the conversation once connected (lettre issue #1027): a server that accepts and
/// never answers would hold the send, and a stopping service, for ever. Past this, the
/// attempt is abandoned as a transient failure and retried later.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl EmailSender {
    pub fn new(settings: &EmailSettings) -> Result<Self, String> {
        // The URL may carry a password: errors never repeat it.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.smtp_url.expose())
            .map_err(|e| {
                format!(
                    "email.smtp_url is not usable: {}",
                    e.to_string().replace(settings.smtp_url.expose(), "***")
                )
            })?
            .timeout(Some(CONNECT_TIMEOUT))
            .build();
        Ok(Self {
            transport,
            from: settings.from.clone(),
        })
    }

    pub async fn send(
        &self,
        name: &str,
        address: &str,
        subject: String,
        text: String,
        html: String,
    ) -> SendResult {
        let to = match address.parse() {
            Ok(addr) => Mailbox::new(Some(name.to_string()), addr),
            Err(e) => {
                return SendResult::Permanent(format!("address {address:?} is not valid: {e}"));
            }
        };
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text, html));
        let email = match email {
            Ok(e) => e,
            Err(e) => return SendResult::Permanent(format!("could not build the email: {e}")),
        };
        let sent = match tokio::time::timeout(SEND_TIMEOUT, self.transport.send(email)).await {
            Ok(sent) => sent,
            Err(_) => {
                return SendResult::Transient {
                    reason: format!(
                        "the SMTP server did not finish the conversation within {} s",
                        SEND_TIMEOUT.as_secs()
                    ),
                    retry_after: None,
                };
            }
        };
        match sent {
            Ok(_) => SendResult::Sent { message: None },
            // 5xx: the server refused this message or recipient for good.
            Err(e) if e.is_permanent() => SendResult::Permanent(describe(&e)),
            // 4xx, connection refused, timeouts, TLS trouble: try again later.
            Err(e) => SendResult::Transient {
                reason: describe(&e),
                retry_after: None,
            },
        }
    }
}

/// The error with its sources, each said once: lettre's own message already ends with its
/// source's for some errors ("Connection refused (os error 111)" twice otherwise).
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let said = s.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = s.source();
    }
    text
}
