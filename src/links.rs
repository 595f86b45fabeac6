//! Signed action links for email (SPEC §6.1): a reminder's "snooze", "called back", … as a
//! URL under `public_url` carrying an HMAC-SHA256-signed, expiring token. Opening the link
//! only shows a confirmation page; the action happens on its POST, so mail scanners that
//! fetch every link change nothing.
//!
//! Token: `base64url(payload) . base64url(hmac(key, payload))`, where the payload is
//! `v1|<action code>|<callback id>|<who>|<expiry, unix seconds>`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::actions::QuickAction;
use crate::domain::callback::CallbackId;

/// How long an emailed link works.
pub fn link_lifetime() -> Duration {
    Duration::days(3)
}

/// How long a reminder's "open the callback" link works: longer than an action link, since
/// it only shows the callback (and offers fresh action links).
pub fn view_lifetime() -> Duration {
    Duration::days(7)
}

/// A signed, read-only view of one callback for the person a reminder went to (agents have
/// no dashboard login). Its token is signed like an action link with the action code
/// `view`, so neither kind of token is accepted as the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewLink {
    pub callback: CallbackId,
    pub who: String,
    pub expires: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewLinkError {
    #[error("this link is not one Ringback made")]
    Invalid,
    #[error("this link has expired")]
    Expired(ViewLink),
}

const VIEW: &str = "view";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionLink {
    pub action: QuickAction,
    pub callback: CallbackId,
    /// Who the email went to: the action is done in their name.
    pub who: String,
    pub expires: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this link is not one Ringback made")]
    Invalid,
    #[error("this link has expired")]
    Expired(ActionLink),
}

/// Signs and checks links with a key kept secret (configured, or generated in the data
/// directory).
pub struct LinkSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner(***)")
    }
}

impl LinkSigner {
    pub fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(payload);
        mac
    }

    fn sign_payload(
        &self,
        code: &str,
        callback: CallbackId,
        who: &str,
        expires: DateTime<Utc>,
    ) -> String {
        let payload = format!("v1|{code}|{callback}|{who}|{}", expires.timestamp());
        let tag = self.mac(payload.as_bytes()).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The signed fields of a token, after checking its signature in constant time:
    /// (code, callback, who, expiry). `None` for anything Ringback did not sign.
    fn open(&self, token: &str) -> Option<(String, CallbackId, String, DateTime<Utc>)> {
        let (payload, tag) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(&payload).verify_slice(&tag).ok()?;
        let payload = String::from_utf8(payload).ok()?;
        let parts: Vec<&str> = payload.split('|').collect();
        let [version, code, callback, who, expires] = parts.as_slice() else {
            return None;
        };
        if *version != "v1" {
            return None;
        }
        let expires = DateTime::from_timestamp(expires.parse::<i64>().ok()?, 0)?;
        Some((
            code.to_string(),
            callback.parse().ok()?,
            who.to_string(),
            expires,
        ))
    }

    pub fn sign(&self, link: &ActionLink) -> String {
        self.sign_payload(link.action.code(), link.callback, &link.who, link.expires)
    }

    /// Checks the signature (in constant time), then the expiry.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<ActionLink, LinkError> {
        let (code, callback, who, expires) = self.open(token).ok_or(LinkError::Invalid)?;
        let link = ActionLink {
            action: QuickAction::from_code(&code).ok_or(LinkError::Invalid)?,
            callback,
            who,
            expires,
        };
        if link.expires <= now {
            return Err(LinkError::Expired(link));
        }
        Ok(link)
    }

    pub fn sign_view(&self, link: &ViewLink) -> String {
        self.sign_payload(VIEW, link.callback, &link.who, link.expires)
    }

    /// Checks a view link's signature, kind and expiry.
    pub fn verify_view(&self, token: &str, now: DateTime<Utc>) -> Result<ViewLink, ViewLinkError> {
        let (code, callback, who, expires) = self.open(token).ok_or(ViewLinkError::Invalid)?;
        if code != VIEW {
            return Err(ViewLinkError::Invalid);
        }
        let link = ViewLink {
            callback,
            who,
            expires,
        };
        if link.expires <= now {
            return Err(ViewLinkError::Expired(link));
        }
        Ok(link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(expires: DateTime<Utc>) -> ActionLink {
        ActionLink {
            action: QuickAction::Snooze,
            callback: "01M8MKQFH12E6PMJQ6D48WEJRS".parse().unwrap(),
            who: "Priya".into(),
            expires,
        }
    }

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let signer = LinkSigner::new(b"a key of some length".to_vec());
        let now = Utc::now();
        let l = link(now + Duration::hours(1));
        let token = signer.sign(&l);
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        );
        let back = signer.verify(&token, now).unwrap();
        assert_eq!(back.who, "Priya");
        assert_eq!(back.action, QuickAction::Snooze);
        assert!(matches!(
            signer.verify(&token, now + Duration::hours(2)),
            Err(LinkError::Expired(_))
        ));
    }

    #[test]
    fn tampered_or_foreign_links_are_refused() {
        let signer = LinkSigner::new(b"a key of some length".to_vec());
        let now = Utc::now();
        let token = signer.sign(&link(now + Duration::hours(1)));
        let other = LinkSigner::new(b"another key".to_vec());
        assert_eq!(other.verify(&token, now), Err(LinkError::Invalid));
        let (payload, tag) = token.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap())
                .unwrap()
                .replace("snooze", "done"),
        );
        assert_eq!(
            signer.verify(&format!("{forged}.{tag}"), now),
            Err(LinkError::Invalid)
        );
        assert_eq!(signer.verify("garbage", now), Err(LinkError::Invalid));
        assert_eq!(signer.verify("a.b", now), Err(LinkError::Invalid));
    }

    #[test]
    fn a_view_link_only_shows_and_an_action_link_only_acts() {
        let signer = LinkSigner::new(b"a key of some length".to_vec());
        let now = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let view = ViewLink {
            callback: "01M8MKQFH12E6PMJQ6D48WEJRS".parse().unwrap(),
            who: "Priya".into(),
            expires: now + view_lifetime(),
        };
        let token = signer.sign_view(&view);
        assert_eq!(signer.verify_view(&token, now), Ok(view.clone()));
        assert_eq!(signer.verify(&token, now), Err(LinkError::Invalid));
        let action = signer.sign(&link(now + Duration::hours(1)));
        assert_eq!(
            signer.verify_view(&action, now),
            Err(ViewLinkError::Invalid)
        );
        assert_eq!(
            signer.verify_view(&token, now + Duration::days(8)),
            Err(ViewLinkError::Expired(view))
        );
    }
}
