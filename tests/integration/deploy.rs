//! What deploy/ ships: the production and container configurations are valid and need no
//! warning about their public URL; the container recipe builds with the toolchain Cargo.toml
//! names, runs as a non-root user, and keeps the data directory its config names on a
//! volume that the compose file mounts. (The unit is verified by `tests/system`; the image
//! itself is not built in CI: no container engine there.)

use std::path::Path;
use std::process::Command;

fn repo(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_deploy_configurations_are_valid_and_need_no_public_url_warning() {
    for config in ["deploy/config.toml", "deploy/container.toml"] {
        let out = Command::new(env!("CARGO_BIN_EXE_ringback"))
            .args(["check-config", "--config"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(config))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{config}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("storage           /var/lib/ringback"),
            "{stdout}"
        );
        assert!(!stdout.contains("server.public_url"), "{config}: {stdout}");
    }
}

#[test]
fn the_container_builds_with_the_projects_rust_runs_as_non_root_and_keeps_data_on_a_volume() {
    let dockerfile = repo("Dockerfile");
    let cargo = repo("Cargo.toml");
    let rust = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap();
    assert!(
        dockerfile.contains(&format!("FROM rust:{rust}-")),
        "the build stage uses Rust {rust}"
    );
    assert!(dockerfile.contains("cargo build --release --locked"));
    let runtime = dockerfile.rsplit("\nFROM ").next().unwrap();
    let user = runtime
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the runtime stage names its user");
    assert!(
        !user.starts_with("root") && !user.starts_with('0'),
        "{user}"
    );
    assert!(runtime.contains("VOLUME [\"/var/lib/ringback\"]"));
    assert!(runtime.contains("COPY deploy/container.toml /etc/ringback/config.toml"));
    assert!(repo("deploy/container.toml").contains("path = \"/var/lib/ringback\""));
    let compose = repo("deploy/compose.yaml");
    assert!(compose.contains(":/var/lib/ringback"), "{compose}");
    assert!(compose.contains("dockerfile: Dockerfile"));
}

/// `KEY: "value"` (compose) or `KEY=value` (env file) lines setting RINGBACK_ variables,
/// with compose's `${RINGBACK_DOMAIN…}` filled in.
fn ringback_variables(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("RINGBACK_"))
        .filter_map(|l| {
            let (key, value) = l.split_once(": ").or_else(|| l.split_once('='))?;
            let value = value.trim().trim_matches('"').trim_matches('\'');
            let value = match value.find("${") {
                Some(at) => {
                    let end = value[at..].find('}').unwrap() + at;
                    format!("{}ringback.example.in{}", &value[..at], &value[end + 1..])
                }
                None => value.to_string(),
            };
            Some((key.to_string(), value))
        })
        .collect()
}

#[test]
fn the_replicas_compose_file_runs_two_replicas_on_one_postgres_behind_a_proxy() {
    let compose = repo("deploy/replicas/compose.yaml");
    for service in [
        "postgres:",
        "ringback-a: *ringback",
        "ringback-b: *ringback",
        "proxy:",
    ] {
        assert!(compose.contains(service), "{service}");
    }
    let caddy = repo("deploy/replicas/Caddyfile");
    assert!(caddy.contains("reverse_proxy ringback-a:8080 ringback-b:8080"));
    assert!(caddy.contains("health_uri /readyz"));
    // What a replica runs with: the container's config, the compose environment and the
    // secrets file; valid, on PostgreSQL, the proxy trusted, the password never printed.
    let mut variables = ringback_variables(&compose);
    variables.extend(ringback_variables(&repo(
        "deploy/replicas/replicas.env.example",
    )));
    let proxy = compose
        .lines()
        .find_map(|l| l.trim().strip_prefix("ipv4_address: "))
        .expect("the proxy has a fixed address");
    assert!(
        variables
            .iter()
            .any(|(k, v)| k == "RINGBACK_SERVER__TRUSTED_PROXIES" && v.contains(proxy)),
        "{variables:?}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ringback"))
        .args(["check-config", "--config"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/container.toml"))
        .envs(variables)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("storage           PostgreSQL postgres://ringback@postgres:5432/ringback (up to 16 connections)"),
        "{stdout}"
    );
    assert!(!stdout.contains("change-me"), "{stdout}");
    assert!(!stdout.contains("server.public_url"), "{stdout}");
}
