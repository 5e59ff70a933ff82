//! The README's Python client example, run unmodified (`tests/clients/seed_client.py`) against
//! the server on localhost:8000, the address it is written for. It creates and starts a stream,
//! uploads a video, lists live streams, creates a playlist and then listens on the WebSocket;
//! the test posts a chat message and expects the client to print it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Backend, TestServer, make_video};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_seed_client_works_unmodified() {
    let s = TestServer::start_on("127.0.0.1:8000", Backend::Sqlite, &[])
        .await
        .expect("the seed client needs port 8000 free");
    let work = s.data_dir().join("client");
    std::fs::create_dir_all(&work).unwrap();
    make_video(&work, "my_video.mp4", 2);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/seed_client.py");
    let mut child = Command::new("python3")
        .arg("-u")
        .arg(&script)
        .current_dir(&work)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with requests and websockets (pip install requests websockets)");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines: Vec<String> = Vec::new();
    let wait_for = |lines: &mut Vec<String>, needle: &str| -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if lines.iter().any(|l| l.contains(needle)) {
                return true;
            }
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
                lines.push(l);
            }
        }
        false
    };
    let connected = wait_for(&mut lines, "Connected to stream: Live Coding Session");
    if !connected {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "client did not reach its WebSocket loop.\nstdout:\n{}\nstderr:\n{}",
            lines.join("\n"),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // What it printed on the way, from real responses.
    let all = lines.join("\n");
    assert!(all.contains("Created stream: stream_"), "{all}");
    assert!(all.contains("Stream started: {"), "{all}");
    assert!(all.contains("'status': 'live'"), "{all}");
    assert!(all.contains("Uploaded video: video_"), "{all}");
    assert!(all.contains("Live Coding Session: 0 viewers"), "{all}");
    assert!(all.contains("Created playlist: playlist_"), "{all}");

    // The stream it created is live; a chat message reaches its WebSocket loop.
    let (_, live) = s.get("/api/streams?status=live").await;
    let id = live[0]["id"].as_str().unwrap().to_string();
    assert!(
        wait_for(&mut lines, "Current viewers: 1"),
        "{}",
        lines.join("\n")
    );
    let (st, _) = s
        .post(
            &format!("/api/streams/{id}/chat"),
            json!({"username": "JohnDoe", "message": "Great stream!"}),
        )
        .await;
    assert_eq!(st, 201);
    assert!(
        wait_for(&mut lines, "Chat - JohnDoe: Great stream!"),
        "{}",
        lines.join("\n")
    );
    let _ = child.kill();
    let _ = child.wait();

    // Its upload and playlist are stored as it described them.
    let (_, videos) = s.get("/api/videos?uploader_id=user_123").await;
    assert_eq!(videos[0]["title"], "My Tutorial Video");
    assert_eq!(videos[0]["tags"], json!(["tutorial", "web", "development"]));
    let (_, playlists) = s.get("/api/playlists?creator_id=user_123").await;
    assert_eq!(playlists[0]["video_ids"], json!([videos[0]["id"]]));
    s.stop().await;
}
