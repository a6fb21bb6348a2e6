//! `docker/compose.yaml` is valid for Debian's `docker-compose` when configured by environment,
//! and has no default secret: without a password variable it is refused.
//!
//! No container engine runs in CI, so the images are not built here; `docker-compose config`
//! parses and interpolates the whole file, which catches syntax, schema and variable mistakes.

use std::process::{Command, Output};

use rboinc_e2e::workspace_root;

const REQUIRED: [(&str, &str); 3] = [
    ("MARIADB_ROOT_PASSWORD", "dummy-root-pw"),
    ("RBOINC_DB_PASSWD", "dummy-db-pw"),
    ("RBOINC_CLIENT_PASSWORD", "dummy-client-pw"),
];

fn compose_config(env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("docker-compose");
    cmd.current_dir(workspace_root())
        .args(["-f", "docker/compose.yaml", "config"]);
    // Only what the test sets: nothing from the caller's environment may fill a gap.
    for (k, _) in REQUIRED {
        cmd.env_remove(k);
    }
    for v in [
        "RBOINC_PROJECT_NAME",
        "RBOINC_HTTP_PORT",
        "RBOINC_URL_BASE",
        "RBOINC_OPS_PASSWORD",
        "RBOINC_PROMETHEUS_PORT",
    ] {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied());
    cmd.output()
        .expect("docker-compose is installed (scripts/test.sh installs it)")
}

#[test]
fn compose_file_is_valid_with_every_variable_set() {
    let out = compose_config(&REQUIRED);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "docker-compose config failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for service in ["db:", "server:", "client-a:", "client-b:", "prometheus:"] {
        assert!(
            stdout.contains(&format!("\n  {service}\n")),
            "service {service} missing:\n{stdout}"
        );
    }
    for volume in [
        "db:/var/lib/mysql",
        "project:/srv/rboinc",
        "results:/srv/results",
    ] {
        assert!(
            stdout.contains(volume),
            "volume {volume} missing:\n{stdout}"
        );
    }
    // The values come from the environment, and the clients find the project by its URL.
    assert!(stdout.contains("dummy-db-pw") && stdout.contains("dummy-client-pw"));
    assert!(
        stdout.contains("RBOINC_MASTER_URL: http://server:8080/rboinc/"),
        "{stdout}"
    );
    assert!(stdout.contains("dockerfile: docker/server.Dockerfile"));
    assert!(
        stdout.contains("hostname: server"),
        "pid_<host>/log_<host> survive a recreated container"
    );
    assert!(stdout.contains("dockerfile: docker/client.Dockerfile"));
    // Prometheus (profile `monitoring`): the repository's configuration and alert rules, its
    // UI on localhost only, and the ops password from the environment, not from the file.
    for part in [
        "docker/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
        "docker/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro",
        "127.0.0.1:9090:9090",
        "- monitoring",
    ] {
        assert!(stdout.contains(part), "{part} missing:\n{stdout}");
    }
    let prometheus_yml =
        std::fs::read_to_string(workspace_root().join("docker/prometheus/prometheus.yml")).unwrap();
    assert!(prometheus_yml.contains("password_file: /prometheus/ops-password"));
    assert!(prometheus_yml.contains("targets: [\"server:8080\"]"));

    // Every setting can be changed from outside.
    let mut env = REQUIRED.to_vec();
    env.push(("RBOINC_PROJECT_NAME", "mnistlab"));
    env.push(("RBOINC_HTTP_PORT", "18080"));
    let out = compose_config(&env);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("RBOINC_MASTER_URL: http://server:8080/mnistlab/"),
        "{stdout}"
    );
    assert!(stdout.contains("MARIADB_DATABASE: mnistlab"), "{stdout}");
    assert!(stdout.contains("18080"), "{stdout}");
}

#[test]
fn compose_file_has_no_default_password() {
    for (missing, _) in REQUIRED {
        let env: Vec<_> = REQUIRED
            .iter()
            .copied()
            .filter(|(k, _)| *k != missing)
            .collect();
        let out = compose_config(&env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "accepted without {missing}");
        assert!(
            stderr.contains(&format!("set {missing}")),
            "the error names {missing}: {stderr}"
        );
    }
}

#[test]
fn entrypoints_are_valid_shell_and_dockerfiles_name_them() {
    let root = workspace_root();
    for script in ["docker/server-entrypoint.sh", "docker/client-entrypoint.sh"] {
        let out = Command::new("bash")
            .arg("-n")
            .arg(root.join(script))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let server = std::fs::read_to_string(root.join("docker/server.Dockerfile")).unwrap();
    assert!(server.contains("COPY docker/server-entrypoint.sh"));
    assert!(
        server.contains("app/build-static.sh"),
        "the image serves the static app"
    );
    let client = std::fs::read_to_string(root.join("docker/client.Dockerfile")).unwrap();
    assert!(client.contains("boinc-client"), "stock Debian client");
    assert!(client.contains("COPY docker/client-entrypoint.sh"));
    // Nothing in the docker files weakens the client or carries a secret.
    for text in [&server, &client] {
        assert!(!text.contains("unsigned_apps_ok"));
        assert!(!text.to_lowercase().contains("password="));
    }
}
