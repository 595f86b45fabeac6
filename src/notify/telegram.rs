//! Telegram through teloxide's `Bot`, pointed at `[telegram].api_url` (api.telegram.org, a
//! self-hosted Bot API server, or a fake one in tests): sending messages with action
//! buttons, editing them, answering button presses.

use std::time::Duration;

use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::types::{
    ChatId, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, MessageId, ParseMode,
};

use super::SendResult;
use crate::config::TelegramSettings;

/// A button: its label and the data Telegram sends back when it is pressed.
pub type Button = (String, String);

pub struct TelegramSender {
    bot: Bot,
}

fn no_preview() -> LinkPreviewOptions {
    LinkPreviewOptions {
        is_disabled: true,
        url: None,
        prefer_small_media: false,
        prefer_large_media: false,
        show_above_text: false,
    }
}

fn keyboard(rows: &[Vec<Button>]) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(rows.iter().map(|row| {
        row.iter()
            .map(|(label, data)| InlineKeyboardButton::callback(label.clone(), data.clone()))
            .collect::<Vec<_>>()
    }))
}

impl TelegramSender {
    pub fn new(settings: &TelegramSettings) -> Result<Self, String> {
        // Long enough for getUpdates' own 25 s long poll.
        let client = teloxide::net::default_reqwest_settings()
            .timeout(Duration::from_secs(40))
            .build()
            .map_err(|e| format!("building the Telegram HTTP client: {e}"))?;
        let bot = Bot::with_client(settings.bot_token.expose(), client)
            .set_api_url(settings.api_url.clone());
        Ok(Self { bot })
    }

    pub fn bot(&self) -> &Bot {
        &self.bot
    }

    /// Sends `html` to `chat` with `buttons` under it; `Sent` carries the message id.
    pub async fn send(&self, chat: &str, html: String, buttons: &[Vec<Button>]) -> SendResult {
        let Ok(chat) = chat.parse::<i64>() else {
            return SendResult::Permanent(format!("{chat:?} is not a Telegram chat id"));
        };
        let mut request = self
            .bot
            .send_message(ChatId(chat), html)
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview());
        if !buttons.is_empty() {
            request = request.reply_markup(keyboard(buttons));
        }
        match request.await {
            Ok(message) => SendResult::Sent {
                message: Some(message.id.0),
            },
            Err(e) => classify(e),
        }
    }

    /// Replaces the text (and buttons) of a message sent earlier.
    pub async fn edit(
        &self,
        chat: i64,
        message: i32,
        html: String,
        buttons: &[Vec<Button>],
    ) -> SendResult {
        let result = self
            .bot
            .edit_message_text(ChatId(chat), MessageId(message), html)
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview())
            .reply_markup(keyboard(buttons))
            .await;
        match result {
            Ok(_) => SendResult::Sent {
                message: Some(message),
            },
            // Editing to the same text is refused; the message already says it.
            Err(RequestError::Api(e)) if e.to_string().contains("not modified") => {
                SendResult::Sent {
                    message: Some(message),
                }
            }
            Err(e) => classify(e),
        }
    }

    /// Answers a button press (the small notice Telegram shows the presser).
    pub async fn answer(&self, query_id: &str, text: &str, alert: bool) {
        let result = self
            .bot
            .answer_callback_query(teloxide::types::CallbackQueryId(query_id.to_string()))
            .text(text)
            .show_alert(alert)
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %redact(&e.to_string()), "answering a Telegram button press failed");
        }
    }

    /// Sends a plain reply (commands).
    pub async fn reply(&self, chat: i64, html: String) {
        let result = self
            .bot
            .send_message(ChatId(chat), html)
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview())
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %redact(&e.to_string()), chat, "replying on Telegram failed");
        }
    }
}

fn classify(e: RequestError) -> SendResult {
    match e {
        RequestError::RetryAfter(wait) => SendResult::Transient {
            reason: format!("Telegram asked to wait {}s (429)", wait.seconds()),
            retry_after: Some(Duration::from_secs(u64::from(wait.seconds()))),
        },
        // Chat not found, bot blocked, bad request: the same message will fail again.
        RequestError::Api(e) => SendResult::Permanent(format!("Telegram refused: {e}")),
        RequestError::MigrateToChatId(id) => SendResult::Permanent(format!(
            "the group moved to chat {id}; update telegram_chat_id"
        )),
        e => SendResult::Transient {
            reason: format!("Telegram unreachable: {}", redact(&e.to_string())),
            retry_after: None,
        },
    }
}

/// reqwest errors name the URL, which holds the bot token (`/bot<token>/sendMessage`).
pub fn redact(text: &str) -> String {
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
