//! Clients that send a request a byte at a time (issue 15): each holds a connection, and
//! enough of them once left no file descriptor for Smartflo. Heads and bodies have a time
//! limit; meanwhile everyone else is served.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::dashboard::DASHBOARD;
use crate::helpers::*;

/// Everything the server sends until it closes the connection (or `within` passes).
async fn reply_within(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut reply = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut reply)).await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&reply).into_owned())
}

/// Opens a connection and sends `start` of a request, then nothing more.
async fn stall_after(app: &TestApp, start: &str) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(start.as_bytes()).await.unwrap();
    stream
}

async fn a_webhook_gets_through(app: &TestApp, customer: &str) {
    let body = missed_call(
        customer,
        &format!("1780006000.{customer}"),
        "2026-05-28 11:29:00",
    );
    let (status, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["effect"], "opened");
}

#[tokio::test]
async fn a_body_that_never_finishes_is_cut_off_with_408() {
    let app = spawn_app_with(DASHBOARD).await;
    let webhook = format!("/webhooks/smartflo/{WEBHOOK_TOKEN}?trigger=call_hangup_missed");
    let mut login = stall_after(
        &app,
        "POST /login HTTP/1.1\r\nHost: ringback.test\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nname=a",
    )
    .await;
    let mut hook = stall_after(
        &app,
        &format!(
            "POST {webhook} HTTP/1.1\r\nHost: ringback.test\r\n\
             Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"call_id\":"
        ),
    )
    .await;
    let started = Instant::now();
    // While both hang, others are served.
    a_webhook_gets_through(&app, "9876503001").await;

    let login_reply = reply_within(&mut login, Duration::from_secs(30))
        .await
        .expect("the server gives up on the slow body and closes the connection");
    assert!(login_reply.starts_with("HTTP/1.1 408"), "{login_reply}");
    let hook_reply = reply_within(&mut hook, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(hook_reply.starts_with("HTTP/1.1 408"), "{hook_reply}");
    assert!(
        hook_reply.contains(r#""ok":false"#) && hook_reply.contains("did not arrive within"),
        "{hook_reply}"
    );
    let took = started.elapsed();
    assert!(
        (Duration::from_secs(9)..Duration::from_secs(25)).contains(&took),
        "cut off after {took:?}"
    );
    assert_eq!(
        app.pending().await.len(),
        1,
        "the slow webhook stored nothing"
    );
}

#[tokio::test]
async fn a_head_that_never_finishes_is_cut_off() {
    let app = spawn_app().await;
    let mut slow = stall_after(
        &app,
        "POST /webhooks/smartflo HTTP/1.1\r\nHost: ringback.test\r\n",
    )
    .await;
    let started = Instant::now();
    a_webhook_gets_through(&app, "9876503002").await;
    let reply = reply_within(&mut slow, Duration::from_secs(20))
        .await
        .expect("the server gives up on the slow head and closes the connection");
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 408"),
        "{reply}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}
