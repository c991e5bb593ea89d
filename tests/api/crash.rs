//! The durability promise, tested the hard way: the real server process is killed with SIGKILL in the middle of
//! a large concurrent ingest. After a restart, every acknowledged message id is stored, and none twice.

use crate::helpers::{fresh_postgres_database, postgres_server};
use serde_json::json;
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SENDERS: usize = 4;
const BATCH: usize = 500;
/// Acknowledged events to wait for before the kill: enough that batches are certainly in flight.
const ACKED_BEFORE_KILL: usize = 20_000;

fn start_server(database_url: &str, port: u16, site: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_intentlab"))
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("INTENTLAB_ADDR", format!("127.0.0.1:{port}"))
        .env("INTENTLAB_SITE_ROOT", site)
        .env("INTENTLAB_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server")
}

async fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(response) = reqwest::get(format!("{base}/readyz")).await {
            if response.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not become ready");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn batch(sender: usize, number: usize) -> (Vec<String>, serde_json::Value) {
    let ids: Vec<String> = (0..BATCH).map(|i| format!("s{sender}-b{number}-e{i}")).collect();
    let events: Vec<serde_json::Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({"message_id": id, "type": "track", "event": "Product Viewed",
                   "anonymous_id": format!("crash-{sender}-{}", i % 50), "properties": {"sku": format!("S{i}")}})
        })
        .collect();
    (ids, json!({ "events": events }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_events_survive_a_kill_9_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = match postgres_server() {
        Some(server) => fresh_postgres_database(&server).await,
        None => format!("sqlite://{}", dir.path().join("crash.db").display()),
    };
    let key = Command::new(env!("CARGO_BIN_EXE_intentlab"))
        .args(["api-key", "create", "--name", "crash-test", "--scopes", "ingest"])
        .env("DATABASE_URL", &database_url)
        .env("INTENTLAB_LOG", "warn")
        .output()
        .expect("create a key");
    assert!(key.status.success(), "{}", String::from_utf8_lossy(&key.stderr));
    let key = String::from_utf8(key.stdout).unwrap().trim().to_string();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start_server(&database_url, port, dir.path());
    wait_ready(&base).await;

    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let unacknowledged: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let mut senders = Vec::new();
    for sender in 0..SENDERS {
        let (base, key) = (base.clone(), key.clone());
        let (acknowledged, unacknowledged) = (acknowledged.clone(), unacknowledged.clone());
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for number in 0.. {
                let (ids, body) = batch(sender, number);
                let sent = client.post(format!("{base}/api/v1/events")).bearer_auth(&key).json(&body).send().await;
                match sent {
                    Ok(response) if response.status() == 200 => {
                        let answer: serde_json::Value = response.json().await.unwrap();
                        assert_eq!(answer["accepted"], BATCH, "{answer}");
                        acknowledged.lock().unwrap().extend(ids);
                    }
                    // The server is gone: this batch was never acknowledged, and the sender stops.
                    _ => {
                        unacknowledged.lock().unwrap().push(body);
                        return;
                    }
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while acknowledged.lock().unwrap().len() < ACKED_BEFORE_KILL {
        assert!(Instant::now() < deadline, "ingest too slow to reach {ACKED_BEFORE_KILL} events");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill().expect("SIGKILL the server");
    server.wait().unwrap();
    for sender in senders {
        sender.await.unwrap();
    }
    let acknowledged: Vec<String> = acknowledged.lock().unwrap().clone();

    // Restart on the same database: every acknowledged event is there, exactly once.
    let mut server = start_server(&database_url, port, dir.path());
    wait_ready(&base).await;
    let db = app::storage::Db::connect(&database_url, 2, app::storage::WAL_CHECKPOINT_PAGES).await.unwrap();
    let stored: Vec<String> = app::storage::on_pool!(&db, pool => {
        sqlx::query_scalar("SELECT message_id FROM events").fetch_all(pool).await.unwrap()
    });
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "no message id is stored twice");
    let missing: Vec<&String> = acknowledged.iter().filter(|id| !unique.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );

    // The clients retry what was never acknowledged; nothing is doubled.
    let client = reqwest::Client::new();
    let retries = unacknowledged.lock().unwrap().clone();
    for body in &retries {
        let response = client.post(format!("{base}/api/v1/events")).bearer_auth(&key).json(body).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let total: i64 = app::storage::on_pool!(&db, pool => {
        sqlx::query_scalar("SELECT COUNT(DISTINCT message_id) FROM events").fetch_one(pool).await.unwrap()
    });
    let rows: i64 = app::storage::on_pool!(&db, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(pool).await.unwrap()
    });
    assert_eq!(rows, total);
    assert_eq!(total as usize, acknowledged.len() + retries.len() * BATCH);
    db.close().await;
    let _ = server.kill();
    let _ = server.wait();
}
