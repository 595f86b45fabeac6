//! Smartflo's click-to-call API (SPEC §6.1): `POST {api_url}/v1/click_to_call` asks Smartflo
//! to ring the agent and then connect the customer. Ringback passes the callback's id as
//! `custom_identifier`, which Smartflo echoes in the webhooks of that call.

use std::time::Duration;

use serde_json::{Value, json};
use url::Url;

use crate::config::{Secret, SmartfloSettings};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("Smartflo answered HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("Smartflo refused the call: {0}")]
    Refused(String),
    #[error("Smartflo could not be reached: {0}")]
    Unreachable(String),
}

pub struct ClickToCall {
    http: reqwest::Client,
    endpoint: Url,
    token: Secret,
    caller_id: Option<String>,
}

impl ClickToCall {
    pub fn new(settings: &SmartfloSettings) -> Result<Self, String> {
        let endpoint = settings
            .api_url
            .join("v1/click_to_call")
            .map_err(|e| format!("smartflo.api_url: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| format!("building the Smartflo HTTP client: {e}"))?;
        Ok(Self {
            http,
            endpoint,
            token: settings.api_token.clone(),
            caller_id: settings.caller_id.clone(),
        })
    }

    /// Asks Smartflo to connect `agent_number` (the agent's Smartflo id) to `destination`
    /// (the customer's national number). Returns Smartflo's message on success.
    pub async fn place(
        &self,
        agent_number: &str,
        destination: &str,
        custom_identifier: &str,
    ) -> Result<String, CallError> {
        let mut body = json!({
            "agent_number": agent_number,
            "destination_number": destination,
            "async": 1,
            "custom_identifier": custom_identifier,
        });
        if let Some(caller_id) = &self.caller_id {
            body["caller_id"] = json!(caller_id);
        }
        let response = self
            .http
            .post(self.endpoint.clone())
            .bearer_auth(self.token.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| CallError::Unreachable(self.redact(&e.to_string())))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let excerpt: String = self.redact(&text).chars().take(300).collect();
        if !status.is_success() {
            return Err(CallError::Http {
                status: status.as_u16(),
                body: excerpt,
            });
        }
        // A 200 can still say it failed: {"success":false,"message":"…"} or
        // {"status":"error",…}.
        let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let message = parsed
            .get("message")
            .or_else(|| parsed.get("error"))
            .and_then(Value::as_str)
            .unwrap_or(&excerpt)
            .to_string();
        let failed = parsed.get("success").and_then(Value::as_bool) == Some(false)
            || parsed
                .get("status")
                .and_then(Value::as_str)
                .is_some_and(|s| {
                    matches!(
                        s.to_ascii_lowercase().as_str(),
                        "error" | "failed" | "failure" | "fail"
                    )
                })
            || parsed
                .get("error")
                .is_some_and(|e| !e.is_null() && e != false);
        if failed {
            Err(CallError::Refused(message))
        } else {
            Ok(message)
        }
    }

    fn redact(&self, text: &str) -> String {
        text.replace(self.token.expose(), "***")
    }
}
