//! A fake Smartflo API on `127.0.0.1:0`: `POST /v1/click_to_call`, recording each request
//! (authorization header and JSON body) and answering as told (success by default).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct CallRequest {
    pub authorization: String,
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<CallRequest>>,
    answers: Mutex<VecDeque<(u16, Value)>>,
}

pub struct FakeSmartflo {
    pub port: u16,
    shared: Arc<Shared>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeSmartflo {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let data = web::Data::from(Arc::clone(&shared));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v1/click_to_call", web::post().to(click_to_call))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .expect("bind fake Smartflo");
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

    pub fn requests(&self) -> Vec<CallRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Waits (up to 5 s) until at least `n` requests arrived.
    pub async fn wait_for_requests(&self, n: usize) -> bool {
        for _ in 0..250 {
            if self.requests().len() >= n {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        false
    }

    /// The next request gets this answer instead of a success.
    pub fn answer_next(&self, status: u16, body: Value) {
        self.shared
            .answers
            .lock()
            .unwrap()
            .push_back((status, body));
    }
}

impl Drop for FakeSmartflo {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

async fn click_to_call(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    shared.requests.lock().unwrap().push(CallRequest {
        authorization,
        body: body.into_inner(),
    });
    let (status, body) = shared.answers.lock().unwrap().pop_front().unwrap_or((
        200,
        json!({"success": true, "message": "Originate successfully queued"}),
    ));
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(body)
}
