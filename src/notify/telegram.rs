//! Telegram through teloxide's `Bot`, pointed at `[telegram].api_url` (api.telegram.org, a
//! self-hosted Bot API server, or a fake one in tests).

use std::time::Duration;

use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::types::{ChatId, LinkPreviewOptions, ParseMode};

use super::SendResult;
use crate::config::TelegramSettings;

pub struct TelegramSender {
    bot: Bot,
}

impl TelegramSender {
    pub fn new(settings: &TelegramSettings) -> Result<Self, String> {
        let client = teloxide::net::default_reqwest_settings()
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| format!("building the Telegram HTTP client: {e}"))?;
        let bot = Bot::with_client(settings.bot_token.expose(), client)
            .set_api_url(settings.api_url.clone());
        Ok(Self { bot })
    }

    pub async fn send(&self, chat: &str, html: String) -> SendResult {
        let Ok(chat) = chat.parse::<i64>() else {
            return SendResult::Permanent(format!("{chat:?} is not a Telegram chat id"));
        };
        let result = self
            .bot
            .send_message(ChatId(chat), html)
            .parse_mode(ParseMode::Html)
            .link_preview_options(LinkPreviewOptions {
                is_disabled: true,
                url: None,
                prefer_small_media: false,
                prefer_large_media: false,
                show_above_text: false,
            })
            .await;
        match result {
            Ok(_) => SendResult::Sent,
            Err(RequestError::RetryAfter(wait)) => SendResult::Transient {
                reason: format!("Telegram asked to wait {}s (429)", wait.seconds()),
                retry_after: Some(Duration::from_secs(u64::from(wait.seconds()))),
            },
            // Chat not found, bot blocked, bad request: the same message will fail again.
            Err(RequestError::Api(e)) => SendResult::Permanent(format!("Telegram refused: {e}")),
            Err(RequestError::MigrateToChatId(id)) => SendResult::Permanent(format!(
                "the group moved to chat {id}; update telegram_chat_id"
            )),
            Err(e) => SendResult::Transient {
                reason: format!("Telegram unreachable: {}", redact(&e.to_string())),
                retry_after: None,
            },
        }
    }
}

/// reqwest errors name the URL, which holds the bot token (`/bot<token>/sendMessage`).
fn redact(text: &str) -> String {
    match text.find("/bot") {
        Some(i) => {
            let rest = &text[i + 4..];
            let end = rest.find('/').unwrap_or(rest.len());
            format!("{}/bot***{}", &text[..i], &rest[end..])
        }
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bot_tokens_are_cut_out_of_error_text() {
        let text =
            "error sending request for url (http://127.0.0.1:9/bot123:ABC-secret/SendMessage)";
        let redacted = super::redact(text);
        assert!(!redacted.contains("ABC-secret"), "{redacted}");
        assert!(redacted.contains("/bot***/SendMessage"));
    }
}
