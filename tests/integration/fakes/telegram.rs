//! A fake Telegram Bot API on `127.0.0.1:0` (actix-web), answering what teloxide sends:
//! `sendMessage` (recorded, with the message id it returns), `editMessageText`,
//! `answerCallbackQuery`, and `getUpdates`, which serves updates the test queues — button
//! presses and messages. It can also answer `429` with `retry_after`, or `400 chat not
//! found` for a chat.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct BotRequest {
    pub token: String,
    pub method: String,
    pub body: Value,
    /// For a successful sendMessage: the message id it was given.
    pub message_id: Option<i64>,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<BotRequest>>,
    /// Answers to give before behaving normally: a 429 with this retry_after.
    throttles: Mutex<VecDeque<u32>>,
    missing_chats: Mutex<HashSet<i64>>,
    updates: Mutex<VecDeque<Value>>,
    next_update: Mutex<i64>,
    next_message: Mutex<i64>,
    /// getUpdates calls being answered now, and the most there ever were at once (two
    /// means two pollers: Telegram would answer one of them 409 Conflict).
    polling: Mutex<(usize, usize)>,
}

pub struct FakeBotApi {
    pub port: u16,
    shared: Arc<Shared>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeBotApi {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        *shared.next_update.lock().unwrap() = 500;
        *shared.next_message.lock().unwrap() = 100;
        let data = web::Data::from(Arc::clone(&shared));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/bot{token}/{method}", web::post().to(handle))
        })
        .workers(2)
        .bind("127.0.0.1:0")
        .expect("bind fake Bot API");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            port,
            shared,
            handle,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<BotRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    fn calls(&self, method: &str) -> Vec<BotRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method))
            .collect()
    }

    /// Successful `sendMessage` calls to `chat`, in order.
    pub fn messages_to(&self, chat: i64) -> Vec<BotRequest> {
        self.calls("sendMessage")
            .into_iter()
            .filter(|r| r.body["chat_id"] == chat)
            .collect()
    }

    /// `editMessageText` calls for one message, in order.
    pub fn edits_of(&self, chat: i64, message_id: i64) -> Vec<BotRequest> {
        self.calls("editMessageText")
            .into_iter()
            .filter(|r| r.body["chat_id"] == chat && r.body["message_id"] == message_id)
            .collect()
    }

    /// The most getUpdates calls that were ever open at the same time.
    pub fn most_pollers_at_once(&self) -> usize {
        self.shared.polling.lock().unwrap().1
    }

    /// Texts of the answers given to button presses.
    pub fn answers(&self) -> Vec<String> {
        self.calls("answerCallbackQuery")
            .into_iter()
            .map(|r| r.body["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The next `count` requests get `429 Too Many Requests` with `retry_after`.
    pub fn throttle(&self, count: usize, retry_after: u32) {
        let mut t = self.shared.throttles.lock().unwrap();
        for _ in 0..count {
            t.push_back(retry_after);
        }
    }

    pub fn forget_chat(&self, chat: i64) {
        self.shared.missing_chats.lock().unwrap().insert(chat);
    }

    /// The next update queued gets id `last + 1` (Telegram's ids are 64-bit).
    pub fn continue_update_ids_after(&self, last: i64) {
        *self.shared.next_update.lock().unwrap() = last;
    }

    fn push_update(&self, kind: &str, payload: Value) {
        let mut id = self.shared.next_update.lock().unwrap();
        *id += 1;
        self.shared
            .updates
            .lock()
            .unwrap()
            .push_back(json!({"update_id": *id, kind: payload}));
    }

    /// `user` presses a button with `data` under `message_id` in `chat`.
    pub fn press(&self, user: i64, chat: i64, message_id: i64, data: &str) {
        let n = *self.shared.next_update.lock().unwrap();
        self.push_update(
            "callback_query",
            json!({
                "id": format!("query-{n}"),
                "from": {"id": user, "is_bot": false, "first_name": format!("User {user}")},
                "chat_instance": "instance",
                "data": data,
                "message": {
                    "message_id": message_id, "date": 1780000000,
                    "chat": {"id": chat, "type": "private", "first_name": "Chat"},
                    "text": "a reminder"
                }
            }),
        );
    }

    /// `user` sends `text` to the bot in a private chat.
    pub fn say(&self, user: i64, text: &str) {
        self.say_as(user, "Someone", text);
    }

    /// `user`, whose Telegram first name is `first_name`, sends `text` to the bot.
    pub fn say_as(&self, user: i64, first_name: &str, text: &str) {
        let n = *self.shared.next_update.lock().unwrap();
        self.push_update(
            "message",
            json!({
                // Message ids are 32-bit on Telegram, unlike update ids.
                "message_id": n % 1_000_000, "date": 1780000000,
                "chat": {"id": user, "type": "private", "first_name": first_name},
                "from": {"id": user, "is_bot": false, "first_name": first_name, "username": format!("user{user}")},
                "text": text
            }),
        );
    }

    /// Waits (up to 5 s) until `done` holds.
    pub async fn wait_until(&self, done: impl Fn(&Self) -> bool) -> bool {
        for _ in 0..250 {
            if done(self) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

impl Drop for FakeBotApi {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

fn message_json(id: i64, chat: i64, text: &Value) -> Value {
    json!({
        "message_id": id,
        "date": 1780000000,
        "chat": {"id": chat, "type": "private", "first_name": "Agent"},
        "text": text,
    })
}

async fn handle(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (token, method) = path.into_inner();
    let is_json = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let body: Value = if is_json {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    } else {
        let pairs: serde_json::Map<String, Value> = form_urlencoded::parse(&body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        Value::Object(pairs)
    };
    let record = |method: String, message_id: Option<i64>| {
        shared.requests.lock().unwrap().push(BotRequest {
            token: token.clone(),
            method,
            body: body.clone(),
            message_id,
        });
    };
    match method.to_ascii_lowercase().as_str() {
        "getupdates" => {
            {
                let mut polling = shared.polling.lock().unwrap();
                polling.0 += 1;
                polling.1 = polling.1.max(polling.0);
            }
            struct Done<'a>(&'a Mutex<(usize, usize)>);
            impl Drop for Done<'_> {
                fn drop(&mut self) {
                    self.0.lock().unwrap().0 -= 1;
                }
            }
            let _done = Done(&shared.polling);
            let offset = body["offset"].as_i64().unwrap_or(0);
            for _ in 0..15 {
                {
                    let mut queue = shared.updates.lock().unwrap();
                    queue.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                    if !queue.is_empty() {
                        let updates: Vec<Value> = queue.iter().cloned().collect();
                        return HttpResponse::Ok().json(json!({"ok": true, "result": updates}));
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            HttpResponse::Ok().json(json!({"ok": true, "result": []}))
        }
        "answercallbackquery" => {
            record(method, None);
            HttpResponse::Ok().json(json!({"ok": true, "result": true}))
        }
        "editmessagetext" => {
            record(method, None);
            let chat = body["chat_id"].as_i64().unwrap_or(0);
            let id = body["message_id"].as_i64().unwrap_or(0);
            HttpResponse::Ok()
                .json(json!({"ok": true, "result": message_json(id, chat, &body["text"])}))
        }
        _ => {
            let chat = body["chat_id"].as_i64();
            if let Some(wait) = shared.throttles.lock().unwrap().pop_front() {
                record(format!("{method} (refused)"), None);
                return HttpResponse::TooManyRequests().json(json!({
                    "ok": false, "error_code": 429,
                    "description": format!("Too Many Requests: retry after {wait}"),
                    "parameters": {"retry_after": wait}
                }));
            }
            if chat.is_some_and(|c| shared.missing_chats.lock().unwrap().contains(&c)) {
                record(format!("{method} (refused)"), None);
                return HttpResponse::BadRequest().json(json!({
                    "ok": false, "error_code": 400, "description": "Bad Request: chat not found"
                }));
            }
            let id = {
                let mut next = shared.next_message.lock().unwrap();
                *next += 1;
                *next
            };
            record(method, Some(id));
            HttpResponse::Ok().json(
                json!({"ok": true, "result": message_json(id, chat.unwrap_or(0), &body["text"])}),
            )
        }
    }
}
