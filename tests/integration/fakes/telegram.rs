//! A fake Telegram Bot API on `127.0.0.1:0` (actix-web): answers `sendMessage` the way the
//! real one does, records every request, and can be told to answer `429` with
//! `retry_after`, or `400 chat not found` for a chat.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct BotRequest {
    pub token: String,
    pub method: String,
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<BotRequest>>,
    /// Answers to give before behaving normally: `Some(seconds)` = a 429 with retry_after.
    throttles: Mutex<VecDeque<u32>>,
    missing_chats: Mutex<HashSet<i64>>,
}

pub struct FakeBotApi {
    pub port: u16,
    shared: Arc<Shared>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeBotApi {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let data = web::Data::from(Arc::clone(&shared));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/bot{token}/{method}", web::post().to(handle))
        })
        .workers(1)
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

    /// Successful `sendMessage` calls to `chat`, in order.
    pub fn messages_to(&self, chat: i64) -> Vec<BotRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method.eq_ignore_ascii_case("sendMessage") && r.body["chat_id"] == chat)
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
}

impl Drop for FakeBotApi {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
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
    let chat = body["chat_id"].as_i64();
    let throttled = shared.throttles.lock().unwrap().pop_front();
    let answer = if let Some(wait) = throttled {
        HttpResponse::TooManyRequests().json(json!({
            "ok": false, "error_code": 429,
            "description": format!("Too Many Requests: retry after {wait}"),
            "parameters": {"retry_after": wait}
        }))
    } else if chat.is_some_and(|c| shared.missing_chats.lock().unwrap().contains(&c)) {
        HttpResponse::BadRequest().json(json!({
            "ok": false, "error_code": 400, "description": "Bad Request: chat not found"
        }))
    } else {
        let count = shared.requests.lock().unwrap().len() as i64 + 1;
        HttpResponse::Ok().json(json!({
            "ok": true,
            "result": {
                "message_id": count,
                "date": 1780000000,
                "chat": {"id": chat.unwrap_or(0), "type": "private", "first_name": "Agent"},
                "text": body["text"].clone(),
            }
        }))
    };
    // Only requests that were answered normally count as delivered messages.
    if throttled.is_none()
        && !chat.is_some_and(|c| shared.missing_chats.lock().unwrap().contains(&c))
    {
        shared.requests.lock().unwrap().push(BotRequest {
            token,
            method,
            body,
        });
    } else {
        shared.requests.lock().unwrap().push(BotRequest {
            token,
            method: format!("{method} (refused)"),
            body,
        });
    }
    answer
}
