//! A throwaway PostgreSQL server for tests: `initdb` and `pg_ctl` (Debian's `postgresql`
//! package, under `/usr/lib/postgresql/<version>/bin`) into a temporary directory, on a free
//! port, its socket in that directory; one server per test process, a fresh database per
//! test. `RINGBACK_TEST_DATABASE_URL` points at an existing server instead (a database is
//! still created per test). Without either the tests fail, saying what to install: a test
//! that needs PostgreSQL never passes without it.
//!
//! The server runs with `fsync = off`: these tests are about Ringback's transactions, not
//! about PostgreSQL's own durability, and a clean stop (`pg_ctl -m fast`) still writes
//! everything out.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// A running server (or the one `RINGBACK_TEST_DATABASE_URL` names).
pub struct PgServer {
    /// `postgres://…/` without a database name.
    base: String,
    port: u16,
    bin: Option<PathBuf>,
    dir: Option<PathBuf>,
}

fn server_programs() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs a server program, as the `postgres` user when we are root (initdb refuses root).
fn run(bin: &Path, program: &str, args: &[&str]) -> std::process::Output {
    let path = bin.join(program);
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&path);
        c
    } else {
        Command::new(&path)
    };
    command
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", path.display()))
}

fn start() -> PgServer {
    if let Ok(url) = std::env::var("RINGBACK_TEST_DATABASE_URL") {
        let base = url
            .rsplit_once('/')
            .map_or(url.clone(), |(b, _)| b.to_string());
        return PgServer {
            base,
            port: 0,
            bin: None,
            dir: None,
        };
    }
    let bin = server_programs().unwrap_or_else(|| {
        panic!(
            "this test needs PostgreSQL: install Debian's `postgresql` package (its server \
             programs under /usr/lib/postgresql/<version>/bin), or set \
             RINGBACK_TEST_DATABASE_URL=postgres://user@host:port/db"
        )
    });
    let dir = std::env::temp_dir().join(format!(
        "ringback-pg-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    if is_root() {
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "chown of {} failed", dir.display());
    }
    let data = dir.join("data");
    let out = run(
        &bin,
        "initdb",
        &[
            "-D",
            data.to_str().unwrap(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        ],
    );
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = PgServer {
        base: format!("postgres://postgres@127.0.0.1:{port}"),
        port,
        bin: Some(bin),
        dir: Some(dir),
    };
    server.pg_ctl_start();
    server
}

fn rand_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{nanos:08x}")
}

impl PgServer {
    fn data(&self) -> PathBuf {
        self.dir.as_ref().expect("a server of our own").join("data")
    }

    fn pg_ctl_start(&self) {
        let bin = self.bin.as_ref().expect("a server of our own");
        let dir = self.dir.as_ref().unwrap();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=300",
            self.port,
            dir.display()
        );
        let log = dir.join("server.log");
        let out = run(
            bin,
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server (fast: connections cut) — a test of Ringback meeting a database
    /// that went away.
    pub fn stop(&self) {
        let bin = self.bin.as_ref().expect("a server of our own");
        let out = run(
            bin,
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts it again after [`PgServer::stop`].
    pub fn restart(&self) {
        self.pg_ctl_start();
    }

    /// A new, empty database; its URL.
    pub fn fresh_database(&self) -> String {
        let name = format!("t_{}_{}", std::process::id(), rand_suffix());
        let admin = format!("{}/postgres", self.base);
        // Our own server's `createdb`; for a server we do not run, the `psql` client.
        let created = match &self.bin {
            Some(bin) => run(
                bin,
                "createdb",
                &[
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                    &name,
                ],
            ),
            None => Command::new("psql")
                .args([admin.as_str(), "-c", &format!("CREATE DATABASE {name}")])
                .output()
                .expect("psql (to create a test database)"),
        };
        assert!(
            created.status.success(),
            "creating a test database failed: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        format!("{}/{name}", self.base)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let (Some(bin), Some(dir)) = (&self.bin, &self.dir) {
            let _ = run(
                bin,
                "pg_ctl",
                &[
                    "-D",
                    dir.join("data").to_str().unwrap(),
                    "-m",
                    "immediate",
                    "stop",
                ],
            );
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

static SHARED: OnceLock<PgServer> = OnceLock::new();

/// The test process's server, started on first use. Statics are never dropped, so it is
/// stopped (and its directory removed) by a handler registered with `atexit`.
pub fn shared() -> &'static PgServer {
    SHARED.get_or_init(|| {
        let server = start();
        if let (Some(bin), Some(dir)) = (server.bin.clone(), server.dir.clone()) {
            stop_at_exit(bin, dir);
        }
        server
    })
}

/// A server of its own (for tests that stop and restart it).
pub fn own() -> PgServer {
    start()
}

fn stop_at_exit(bin: PathBuf, dir: PathBuf) {
    static AT_EXIT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    let _ = AT_EXIT.set((bin, dir));
    extern "C" fn stop() {
        if let Some((bin, dir)) = AT_EXIT.get() {
            let _ = run(
                bin,
                "pg_ctl",
                &[
                    "-D",
                    dir.join("data").to_str().unwrap(),
                    "-m",
                    "immediate",
                    "stop",
                ],
            );
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    unsafe extern "C" {
        fn atexit(f: extern "C" fn()) -> i32;
    }
    // SAFETY: registering a plain function to run at process exit.
    unsafe {
        atexit(stop);
    }
}
