//! A live stream published with ffmpeg plays in a real headless Chromium with hls.js in
//! low-latency mode (tests/browser/play_live.mjs drives it).

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Backend, TestServer, publish};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_stream_plays_in_chromium_with_hls_js() {
    let browser_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        browser_dir.join("node_modules/hls.js").exists(),
        "run `npm ci --prefix {}` first (scripts/install-test-deps.sh does)",
        browser_dir.display()
    );
    let s = TestServer::start(Backend::Sqlite, &[("HLS_SEGMENT_DURATION_MS", "1000")])
        .await
        .unwrap();
    let stream = s.create_stream(json!({})).await;
    let id = stream["id"].as_str().unwrap().to_string();
    let mut ffmpeg = publish(stream["rtmp_url"].as_str().unwrap(), 40);

    // Wait (bounded) for the first playable playlist.
    let hls_url = stream["hls_url"].as_str().unwrap().to_string();
    let mut ready = false;
    for _ in 0..150 {
        let r = s.http.get(&hls_url).send().await;
        if r.is_ok_and(|r| r.status() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the stream never became playable");

    let shot = s.data_dir().join("player.png");
    let out = tokio::task::spawn_blocking({
        let shot = shot.clone();
        let browser_dir = browser_dir.clone();
        move || {
            Command::new("node")
                .arg(browser_dir.join("play_live.mjs"))
                .arg(&hls_url)
                .arg("6")
                .arg(&shot)
                .env("TMPDIR", std::env::temp_dir())
                .output()
                .expect("node must be installed for the browser test")
        }
    })
    .await
    .unwrap();
    let _ = ffmpeg.kill();
    let _ = ffmpeg.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("{}")).unwrap_or_else(|_| {
            panic!(
                "player output: {stdout}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(out.status.success(), "playback failed: {report}");
    assert_eq!(report["played"], true, "{report}");
    assert!(report["advanced"].as_f64().unwrap() > 3.0, "{report}");
    assert_eq!(report["video"]["width"], 640, "{report}");
    assert_eq!(report["video"]["height"], 360, "{report}");
    assert!(
        !report["errors"].to_string().contains("fatal"),
        "fatal player errors: {report}"
    );
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 1000,
        "a real screenshot"
    );
    eprintln!("browser playback: {report}");
    let (_, live) = s.get(&format!("/api/streams/{id}")).await;
    assert!(live["viewer_count"].as_i64().unwrap() >= 1, "{live}");
    if let Ok(keep) = std::env::var("FERROCAST_KEEP_SCREENSHOT") {
        let _ = std::fs::copy(&shot, keep);
    }
    s.stop().await;
}
