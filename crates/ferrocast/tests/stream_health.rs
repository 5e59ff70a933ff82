//! A live stream's health as its streamer sees it: real ffmpeg publishing over RTMP with the
//! server's ladder running, and the numbers held against what ffmpeg was told to send.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Backend, TestServer};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep};

async fn register(s: &TestServer, name: &str, role: &str) -> (String, String) {
    let (st, body) = s
        .post(
            "/api/auth/register",
            json!({"username": name, "password": "correct horse", "role": role}),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["user"]["id"].as_str().unwrap().to_string(),
    )
}

async fn health(s: &TestServer, id: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = s.http.get(s.url(&format!("/api/streams/{id}/health")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    s.send(req).await
}

/// 854x480 at 30 fps with a keyframe every 15 frames and no others, 800 kbit/s of video, and
/// 48 kHz stereo AAC at 128 kbit/s.
fn publish(url: &str, secs: u32) -> Child {
    Command::new("/usr/bin/ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=854x480:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &secs.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-g", "15", "-keyint_min", "15", "-sc_threshold", "0"])
        .args(["-b:v", "800k", "-maxrate", "800k", "-bufsize", "800k"])
        .args(["-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000"])
        .args(["-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg must be installed for the tests")
}

fn number(v: &Value, field: &str) -> f64 {
    v[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is not a number: {v}"))
}

/// The nulls of a stream that is not being published.
fn assert_offline(h: &Value, id: &str) {
    assert_eq!(h["stream_id"], id);
    assert_eq!(h["live"], false, "{h}");
    for field in [
        "uptime_seconds",
        "ingest_kbps",
        "fps",
        "keyframe_interval_seconds",
        "window_seconds",
        "video",
        "audio",
    ] {
        assert!(h[field].is_null(), "{field} should be null: {h}");
    }
    assert_eq!(h["renditions"], json!([]), "{h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_what_the_publisher_sends() {
    let s = TestServer::start(
        Backend::Sqlite,
        &[
            ("HLS_SEGMENT_DURATION_MS", "1000"),
            ("ENABLE_TRANSCODING", "true"),
            ("ENABLE_ADAPTIVE_BITRATE", "true"),
            ("TRANSCODING_PRESET", "ultrafast"),
            ("LIVE_GRACE_PERIOD", "30"),
        ],
    )
    .await
    .unwrap();
    let (admin, _) = register(&s, "root", "viewer").await;
    let (owner, owner_id) = register(&s, "caster", "streamer").await;
    let (stranger, _) = register(&s, "passerby", "viewer").await;
    let (st, stream) = s
        .send(
            s.http
                .post(s.url("/api/streams"))
                .bearer_auth(&owner)
                .json(&json!({"title": "Health check"})),
        )
        .await;
    assert_eq!(st, 201, "{stream}");
    assert_eq!(stream["streamer_id"], owner_id.as_str());
    let id = stream["id"].as_str().unwrap().to_string();

    // Public as the stream is, its ingest is for its streamer and admins only.
    for token in [None, Some(stranger.as_str())] {
        let (st, body) = health(&s, &id, token).await;
        assert_eq!(st, 404, "{body}");
        assert_eq!(body["detail"], "Stream not found");
    }
    let (st, _) = health(&s, "stream_doesnotexist00", Some(&owner)).await;
    assert_eq!(st, 404);

    // Not published yet.
    let (st, h) = health(&s, &id, Some(&owner)).await;
    assert_eq!(st, 200, "{h}");
    assert_offline(&h, &id);
    assert_eq!(h["viewers"], 0);

    let mut ffmpeg = publish(stream["rtmp_url"].as_str().unwrap(), 40);
    // Live with the ladder's rendition listed and a few seconds of segments in the window.
    let deadline = Instant::now() + Duration::from_secs(40);
    let h = loop {
        let (st, h) = health(&s, &id, Some(&owner)).await;
        assert_eq!(st, 200, "{h}");
        let ready = h["live"] == true
            && h["window_seconds"].as_f64().is_some_and(|w| w >= 4.0)
            && h["renditions"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x["name"] == "360p"));
        if ready {
            break h;
        }
        assert!(Instant::now() < deadline, "never healthy: {h}");
        sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(h["stream_id"], id.as_str());
    assert_eq!(
        h["video"],
        json!({"codec": "h264", "codec_string": h["video"]["codec_string"], "width": 854, "height": 480}),
        "{h}"
    );
    assert!(
        h["video"]["codec_string"]
            .as_str()
            .is_some_and(|c| c.starts_with("avc1.")),
        "{h}"
    );
    assert_eq!(
        h["audio"],
        json!({"codec": "aac", "codec_string": "mp4a.40.2", "sample_rate": 48000, "channels": 2}),
        "{h}"
    );
    let fps = number(&h, "fps");
    assert!((fps - 30.0).abs() < 0.5, "fps {fps}: {h}");
    // A keyframe every 15 frames, though segments are cut after a second: the spacing of the
    // keyframes is measured, not the segments' length.
    let gop = number(&h, "keyframe_interval_seconds");
    assert!((gop - 0.5).abs() < 0.05, "keyframe interval {gop}: {h}");
    // 800 + 128 kbit/s asked of the encoders; well clear of a count in bits or bytes.
    let kbps = number(&h, "ingest_kbps");
    assert!((500.0..1500.0).contains(&kbps), "ingest {kbps} kbit/s: {h}");
    assert!(number(&h, "uptime_seconds") >= 1.0, "{h}");

    let renditions = h["renditions"].as_array().unwrap();
    let names: Vec<&str> = renditions
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["source", "360p"], "{h}");
    assert_eq!(
        (&renditions[0]["width"], &renditions[0]["height"]),
        (&json!(854), &json!(480))
    );
    assert_eq!(
        (&renditions[1]["width"], &renditions[1]["height"]),
        (&json!(640), &json!(360))
    );
    let source_bw = renditions[0]["bandwidth"].as_u64().expect("measured");
    assert!(source_bw > 500_000, "{h}");
    if let Some(low_bw) = renditions[1]["bandwidth"].as_u64() {
        assert!(low_bw < source_bw, "{h}");
    }

    // The master playlist lists the same renditions, and opening it makes a viewer.
    let master = s.text(stream["hls_url"].as_str().unwrap()).await;
    assert!(master.contains("RESOLUTION=854x480"), "{master}");
    assert!(master.contains("RESOLUTION=640x360"), "{master}");
    let (_, h) = health(&s, &id, Some(&owner)).await;
    assert_eq!(h["viewers"], 1, "{h}");

    // An admin sees it as well; the others still do not.
    let (st, by_admin) = health(&s, &id, Some(&admin)).await;
    assert_eq!(st, 200);
    assert_eq!(by_admin["live"], true);
    for token in [None, Some(stranger.as_str())] {
        let (st, _) = health(&s, &id, token).await;
        assert_eq!(st, 404);
    }

    // The publisher goes: the stream waits for it (grace period) but nothing is received.
    let _ = ffmpeg.kill().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (st, h) = health(&s, &id, Some(&owner)).await;
        assert_eq!(st, 200);
        if h["live"] == false {
            assert_offline(&h, &id);
            break;
        }
        assert!(Instant::now() < deadline, "still live: {h}");
        sleep(Duration::from_millis(200)).await;
    }
    let (_, row) = s.get(&format!("/api/streams/{id}")).await;
    assert_eq!(row["status"], "live", "in its grace period");
    s.stop().await;
}
