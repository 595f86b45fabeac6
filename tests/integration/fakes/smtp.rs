//! An in-process SMTP server on `127.0.0.1:0`: enough of RFC 5321 for lettre (EHLO, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT), keeping every message it accepts. It can go down (the port
//! refuses connections and open connections are cut) and come back on the same port, and
//! it can reject chosen recipients with a permanent 550.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Mail {
    /// The message with quoted-printable soft line breaks undone, for content checks.
    pub fn text(&self) -> String {
        self.data.replace("=\r\n", "").replace("=3D", "=")
    }
}

#[derive(Default)]
struct Shared {
    mails: Mutex<Vec<Mail>>,
    rejected: Mutex<HashSet<String>>,
    connections: Mutex<Vec<JoinHandle<()>>>,
}

pub struct FakeSmtp {
    pub port: u16,
    shared: Arc<Shared>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

impl FakeSmtp {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake SMTP");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let acceptor = tokio::spawn(accept(listener, Arc::clone(&shared)));
        Self {
            port,
            shared,
            acceptor: Mutex::new(Some(acceptor)),
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.shared.mails.lock().unwrap().clone()
    }

    pub fn mails_to(&self, address: &str) -> Vec<Mail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == address))
            .collect()
    }

    /// Answers `550` to `RCPT TO:<address>` from now on.
    pub fn reject(&self, address: &str) {
        self.shared
            .rejected
            .lock()
            .unwrap()
            .insert(address.to_string());
    }

    /// Stops listening (connections are refused) and cuts open connections.
    pub fn go_down(&self) {
        if let Some(task) = self.acceptor.lock().unwrap().take() {
            task.abort();
        }
        for conn in self.shared.connections.lock().unwrap().drain(..) {
            conn.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn come_up(&self) {
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => panic!("rebinding the fake SMTP port: {e}"),
            }
        };
        *self.acceptor.lock().unwrap() =
            Some(tokio::spawn(accept(listener, Arc::clone(&self.shared))));
    }
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.go_down();
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let task = tokio::spawn(session(stream, Arc::clone(&shared)));
        shared.connections.lock().unwrap().push(task);
    }
}

async fn session(stream: TcpStream, shared: Arc<Shared>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    if write
        .write_all(b"220 fake-smtp ESMTP ready\r\n")
        .await
        .is_err()
    {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        let answer: String = if upper.starts_with("EHLO") {
            "250-fake-smtp\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".into()
        } else if upper.starts_with("HELO") {
            "250 fake-smtp\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&command);
            to.clear();
            "250 OK\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = address(&command);
            if shared.rejected.lock().unwrap().contains(&rcpt) {
                "550 5.1.1 no such mailbox\r\n".into()
            } else {
                to.push(rcpt);
                "250 OK\r\n".into()
            }
        } else if upper == "DATA" {
            if write.write_all(b"354 go ahead\r\n").await.is_err() {
                return;
            }
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(
                    line.strip_prefix('.')
                        .filter(|_| line.starts_with(".."))
                        .unwrap_or(&line),
                );
            }
            shared.mails.lock().unwrap().push(Mail {
                from: from.clone(),
                to: std::mem::take(&mut to),
                data,
            });
            "250 OK queued\r\n".into()
        } else if upper == "RSET" || upper == "NOOP" {
            "250 OK\r\n".into()
        } else if upper == "QUIT" {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            "502 command not implemented\r\n".into()
        };
        if write.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn address(command: &str) -> String {
    let start = command.find('<').map_or(0, |i| i + 1);
    let end = command[start..]
        .find('>')
        .map_or(command.len(), |i| start + i);
    command[start..end].to_string()
}
