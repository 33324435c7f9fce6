//! `casebridge policy check` and reloading the policy on SIGHUP, against the real binary.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_casebridge");

fn shipped_policies() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies")
}

/// A copy of the shipped policy directory, with `edit` applied to policy.csv.
fn policy_copy(dir: &Path, edit: impl FnOnce(String) -> String) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(
        shipped_policies().join("model.conf"),
        dir.join("model.conf"),
    )
    .unwrap();
    let policy = std::fs::read_to_string(shipped_policies().join("policy.csv")).unwrap();
    std::fs::write(dir.join("policy.csv"), edit(policy)).unwrap();
}

fn policy_check(dir: &Path) -> std::process::Output {
    Command::new(BINARY)
        .args(["policy", "check", "--dir"])
        .arg(dir)
        .output()
        .expect("run casebridge")
}

#[test]
fn the_shipped_policy_passes_the_check_and_prints_the_matrix() {
    let output = policy_check(&shipped_policies());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("csp_worker"));
    assert!(
        stdout.contains("client        read          rows: allocation"),
        "{stdout}"
    );
    assert!(
        stdout.contains("attestation checklist 2026-1: 7 question(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("policy OK"));
}

#[test]
fn a_broken_attestation_checklist_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    policy_copy(dir.path(), |policy| policy);
    let checklist = std::fs::read_to_string(shipped_policies().join("attestation.toml")).unwrap();
    let broken = checklist.replacen("id = \"subcontractors\"", "id = \"staff_trained\"", 1);
    std::fs::write(dir.path().join("attestation.toml"), broken).unwrap();
    let output = policy_check(dir.path());
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("attestation.toml: question id \"staff_trained\" is used twice"),
        "{stderr}"
    );
}

#[test]
fn a_misspelt_field_or_role_fails_the_check_with_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    policy_copy(dir.path(), |policy| {
        policy
            .replacen(
                "p, csp_worker, client.phone, read, -",
                "p, csp_worker, client.phonee, read, -",
                1,
            )
            .replacen(
                "p, auditor, user, set_password, self",
                "p, auditr, user, set_password, self",
                1,
            )
    });
    let text = std::fs::read_to_string(dir.path().join("policy.csv")).unwrap();
    let line_of = |needle: &str| text.lines().position(|line| line.contains(needle)).unwrap() + 1;
    let output = policy_check(dir.path());
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "line {}: resource \"client\" has no field \"phonee\"",
            line_of("client.phonee")
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "line {}: unknown role \"auditr\"",
            line_of("auditr")
        )),
        "{stderr}"
    );
}

struct Server {
    child: Child,
    address: String,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server(policy_dir: &Path) -> Server {
    let data = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let child = Command::new(BINARY)
        .args(["serve", "--demo", "--bind", &address])
        .env("CASEBRIDGE_DATA_DIR", data.path())
        .env("CASEBRIDGE_POLICY_DIR", policy_dir)
        .env("CASEBRIDGE_DEMO_PASSWORD", crate::helpers::PASSWORD)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start casebridge serve");
    Server {
        child,
        address: format!("http://{address}"),
        _data: data,
    }
}

async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn sighup_reloads_a_valid_policy_and_refuses_a_broken_one() {
    let policy_dir = tempfile::tempdir().unwrap();
    policy_copy(policy_dir.path(), |policy| policy);
    let server = start_server(policy_dir.path());
    let http = reqwest::Client::new();
    wait_until("the server is ready", async || {
        http.get(format!("{}/ready", server.address))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    let login: Value = http
        .post(format!("{}/api/v1/auth/login", server.address))
        .json(&serde_json::json!({"username": "caseworker", "password": crate::helpers::PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let first_client = async || -> Value {
        let page: Value = http
            .get(format!("{}/api/v1/clients?limit=1", server.address))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["items"][0].clone()
    };
    assert!(first_client().await.get("medicare_number").is_some());

    let hangup = || {
        let status = Command::new("kill")
            .args(["-HUP", &server.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    policy_copy(policy_dir.path(), |policy| {
        policy.replace("p, dept_caseworker, client.medicare_number, read, -\n", "")
    });
    hangup();
    wait_until(
        "the caseworker no longer reads Medicare numbers",
        async || first_client().await.get("medicare_number").is_none(),
    )
    .await;

    // A broken policy is refused: the one in force stays, and the service keeps answering.
    policy_copy(policy_dir.path(), |policy| {
        policy.replace(
            "p, dept_caseworker, client, read, division",
            "p, dept_caseworker, client, read, everywhere",
        )
    });
    hangup();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = first_client().await;
    assert!(
        client.get("given_name").is_some(),
        "still allowed to read clients: {client}"
    );
    assert!(
        client.get("medicare_number").is_none(),
        "the reloaded policy is still in force"
    );
}
