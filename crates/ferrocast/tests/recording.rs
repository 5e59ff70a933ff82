//! Recording live streams into videos, live thumbnails, and recovery after a crash: the real
//! server binary as a child process (so a crash can be a real SIGKILL), real ffmpeg publishing
//! over RTMP, real ffprobe reading what comes out.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

mod common;

use common::Backend;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::tungstenite::Message;

/// Encoding several streams at once on a small machine would make `-re` publishers fall behind
/// real time, so at most two tests publish at a time.
static PUBLISH_SLOTS: Semaphore = Semaphore::const_new(2);

const GRACE_SECS: u64 = 2;

async fn slot() -> SemaphorePermit<'static> {
    PUBLISH_SLOTS.acquire().await.expect("semaphore")
}

/// A free port right now; the server binds it a moment later.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A data folder (uploads, thumbnails, recordings) and a database that outlive server processes.
struct Data {
    dir: tempfile::TempDir,
    database_url: String,
    pg_database: Option<(String, String)>,
}

impl Data {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = format!("sqlite:///{}", dir.path().join("db.sqlite").display());
        Self {
            dir,
            database_url,
            pg_database: None,
        }
    }

    /// `None` when the suite was told to skip PostgreSQL.
    async fn on(backend: Backend) -> Option<Self> {
        let mut data = Self::new();
        if backend == Backend::Postgres {
            let admin = common::postgres_admin_url()?;
            let (name, url) = common::create_pg_database(&admin).await;
            data.database_url = url;
            data.pg_database = Some((admin, name));
        }
        Some(data)
    }

    async fn drop_database(mut self) {
        if let Some((admin, name)) = self.pg_database.take() {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
}

struct Server {
    base: String,
    rtmp_port: u16,
    http: reqwest::Client,
    child: Child,
}

impl Server {
    /// Starts the `ferrocast` binary on `data` with fresh ports and waits until it answers.
    async fn start(data: &Data, extra: &[(&str, &str)]) -> Server {
        let http_port = free_port();
        let rtmp_port = free_port();
        let path = |p: &str| data.path(p).display().to_string();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.path("server.log"))
            .expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrocast"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOST", "127.0.0.1")
            .env("PORT", http_port.to_string())
            .env("HLS_SERVER_PORT", http_port.to_string())
            .env("RTMP_SERVER_PORT", rtmp_port.to_string())
            .env("RTMP_SERVER_HOST", "127.0.0.1")
            .env("HLS_SERVER_HOST", "127.0.0.1")
            .env("PUBLIC_URL", format!("http://127.0.0.1:{http_port}"))
            .env("DATABASE_URL", &data.database_url)
            .env("UPLOAD_DIR", path("uploads"))
            .env("THUMBNAIL_DIR", path("thumbnails"))
            .env("RECORDING_DIR", path("recordings"))
            .env("LIVE_GRACE_PERIOD", GRACE_SECS.to_string())
            .env("RTMP_READ_TIMEOUT", "5")
            .env("HLS_SEGMENT_DURATION_MS", "1000")
            .env("LIVE_THUMBNAIL_INTERVAL", "1")
            .env("LOG_LEVEL", "info");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start the ferrocast binary");
        let server = Server {
            base: format!("http://127.0.0.1:{http_port}"),
            rtmp_port,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = server.http.get(server.url("/health")).send().await
                && r.status().is_success()
            {
                return server;
            }
            assert!(Instant::now() < deadline, "the server did not start");
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown path runs.
    async fn kill(mut self) {
        self.child.start_kill().expect("kill");
        let _ = timeout(Duration::from_secs(10), self.child.wait()).await;
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The path and query of a URL the server handed out.
    fn local(&self, url: &str) -> String {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let path = rest.find('/').map_or("/", |i| &rest[i..]);
        self.url(path)
    }

    async fn create_stream(&self, extra: Value) -> Value {
        let mut body = json!({"title": "Recorded show", "streamer_id": "user_rec"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let r = self
            .http
            .post(self.url("/api/streams"))
            .json(&body)
            .send()
            .await
            .expect("create stream");
        assert_eq!(r.status(), 201);
        r.json().await.expect("stream json")
    }

    async fn json(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.expect("GET");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Polls the stream until `done` holds for it (bounded).
    async fn wait_stream(
        &self,
        id: &str,
        query: &str,
        within: Duration,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (status, s) = self.json(&format!("/api/streams/{id}{query}")).await;
            if status == 200 && done(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "stream {id}: {what} not within {within:?}: {s}"
            );
            sleep(Duration::from_millis(200)).await;
        }
    }

    fn rtmp_url(&self, stream: &Value) -> String {
        let key = stream["stream_key"].as_str().expect("stream_key");
        format!("rtmp://127.0.0.1:{}/live/{key}", self.rtmp_port)
    }

    async fn bytes(&self, url: &str) -> (u16, Option<String>, Vec<u8>) {
        let r = self.http.get(url).send().await.expect("GET");
        let status = r.status().as_u16();
        let ctype = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (status, ctype, r.bytes().await.expect("body").to_vec())
    }
}

/// ffmpeg publishing a generated 640x360 H.264 + AAC test stream for `secs` seconds.
fn publish(url: &str, secs: u32) -> Child {
    publish_sized(url, secs, "640x360")
}

fn publish_sized(url: &str, secs: u32, size: &str) -> Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=30"),
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440"])
        .args(["-t", &secs.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
        ])
        .args(["-g", "30", "-c:a", "aac", "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg must be installed for the tests")
}

#[derive(Debug, Default)]
struct Probed {
    codecs: Vec<String>,
    width: Option<u64>,
    height: Option<u64>,
    duration: Option<f64>,
}

/// What ffprobe reads in a file or URL; panics if it cannot.
async fn ffprobe(input: &str) -> Probed {
    let out = timeout(
        Duration::from_secs(30),
        Command::new("ffprobe")
            .args(["-v", "error", "-print_format", "json", "-show_format"])
            .args(["-show_streams", input])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("ffprobe timed out")
    .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe cannot read {input}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    let streams = v["streams"].as_array().cloned().unwrap_or_default();
    let video = streams.iter().find(|s| s["codec_type"] == "video");
    Probed {
        codecs: streams
            .iter()
            .filter_map(|s| s["codec_name"].as_str().map(str::to_string))
            .collect(),
        width: video.and_then(|s| s["width"].as_u64()),
        height: video.and_then(|s| s["height"].as_u64()),
        duration: v["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok()),
    }
}

/// Checks that `bytes` is a JPEG of `width`x`height` (ffprobe decodes it from a file).
async fn assert_jpeg(bytes: &[u8], dir: &Path, width: u64, height: u64) {
    assert!(bytes.starts_with(&[0xFF, 0xD8]), "not a JPEG");
    let file = dir.join(format!("check-{}.jpg", ferrocast::ids::secret(8)));
    std::fs::write(&file, bytes).expect("write jpeg");
    let p = ffprobe(&file.display().to_string()).await;
    assert_eq!(p.codecs, vec!["mjpeg".to_string()]);
    assert_eq!((p.width, p.height), (Some(width), Some(height)));
}

/// Waits for ffmpeg to finish publishing.
async fn finished(mut publisher: Child, within: Duration) {
    let status = timeout(within, publisher.wait())
        .await
        .expect("publisher did not exit in time")
        .expect("wait");
    assert!(status.success(), "the publisher failed");
}

/// Checks the video a stream's recording became and returns it.
async fn check_recording(server: &Server, data: &Data, stream: &Value, published: f64) -> Value {
    let video_id = stream["recording_video_id"]
        .as_str()
        .expect("recording_video_id");
    let (status, video) = server.json(&format!("/api/videos/{video_id}")).await;
    assert_eq!(status, 200, "{video}");
    assert_eq!(video["content_type"], "recorded");
    assert_eq!(video["stream_id"], stream["id"]);
    assert_eq!(video["uploader_id"], stream["streamer_id"]);
    assert_eq!(video["title"], stream["title"]);
    assert_eq!(video["format"], "MP4");
    assert_eq!(video["resolution"], "640x360");
    assert_ne!(video["processing_status"], "failed", "{video}");
    assert!(video["bitrate"].as_i64().unwrap_or(0) > 0, "{video}");
    let file = video["file_path"].as_str().expect("file_path");
    assert!(
        Path::new(file).starts_with(data.path("uploads")),
        "{file} is not in UPLOAD_DIR"
    );
    let p = ffprobe(file).await;
    assert!(p.codecs.contains(&"h264".to_string()), "{p:?}");
    assert!(p.codecs.contains(&"aac".to_string()), "{p:?}");
    let duration = p.duration.expect("duration");
    assert!(
        (duration - published).abs() <= 2.0,
        "recording lasts {duration} s, published {published} s"
    );
    let api_duration = video["duration"].as_f64().expect("duration in the API");
    assert!((api_duration - duration).abs() < 0.5);
    // Whole file decodes: a corrupt fragment in the middle would fail here.
    let out = timeout(
        Duration::from_secs(60),
        Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-i", file, "-f", "null", "-"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("decode timed out")
    .expect("ffmpeg");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "decoding the recording: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let thumb = video["thumbnail_url"].as_str().expect("thumbnail_url");
    let (status, ctype, jpeg) = server.bytes(&server.local(thumb)).await;
    assert_eq!(status, 200);
    assert_eq!(ctype.as_deref(), Some("image/jpeg"));
    assert_jpeg(&jpeg, data.dir.path(), 640, 360).await;
    // Like an upload, the recording is then processed into the adaptive ladder: it plays as HLS.
    let mut processed = video.clone();
    for _ in 0..480 {
        if matches!(
            processed["processing_status"].as_str(),
            Some("completed" | "failed")
        ) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        processed = server.json(&format!("/api/videos/{video_id}")).await.1;
    }
    assert_eq!(processed["processing_status"], "completed", "{processed}");
    let hls = server.local(processed["hls_url"].as_str().expect("hls_url"));
    let p = ffprobe(&hls).await;
    assert!(p.codecs.contains(&"h264".to_string()), "{p:?}");
    processed
}

on_both_databases!(recording_becomes_a_video_with_a_thumbnail);

async fn recording_becomes_a_video_with_a_thumbnail(backend: Backend) {
    let _slot = slot().await;
    let Some(data) = Data::on(backend).await else {
        return;
    };
    let server = Server::start(&data, &[("ENABLE_STREAM_RECORDING", "true")]).await;
    let stream = server.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    assert_eq!(stream["record"], true);
    assert_eq!(stream["recording_video_id"], Value::Null);

    let publisher = publish(&server.rtmp_url(&stream), 6);
    // While live: a thumbnail of the stream's own size.
    let live = server
        .wait_stream(&id, "", Duration::from_secs(20), "thumbnail", |s| {
            s["status"] == "live" && s["thumbnail_url"].is_string()
        })
        .await;
    let thumb = server.local(live["thumbnail_url"].as_str().expect("url"));
    let (status, ctype, jpeg) = server.bytes(&thumb).await;
    assert_eq!(status, 200);
    assert_eq!(ctype.as_deref(), Some("image/jpeg"));
    assert_jpeg(&jpeg, data.dir.path(), 640, 360).await;

    finished(publisher, Duration::from_secs(30)).await;
    let ws_url = format!("{}/ws/{id}", server.base.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .expect("websocket");
    let r = server
        .http
        .post(server.url(&format!("/api/streams/{id}/end?streamer_id=user_rec")))
        .send()
        .await
        .expect("end");
    assert_eq!(r.status(), 200);
    let ended = server
        .wait_stream(&id, "", Duration::from_secs(30), "recording", |s| {
            s["recording_video_id"].is_string()
        })
        .await;
    assert_eq!(ended["status"], "ended");
    // The last thumbnail stays.
    assert_eq!(ended["thumbnail_url"], live["thumbnail_url"]);
    assert_eq!(server.bytes(&thumb).await.0, 200);
    let video = check_recording(&server, &data, &ended, 6.0).await;
    // Nothing is left behind in RECORDING_DIR once the video exists.
    assert!(!data.path("recordings").join(&id).exists());
    // The stream's channel was told.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let msg = timeout(deadline - Instant::now(), ws.next())
            .await
            .expect("no recording_ready event")
            .expect("websocket closed")
            .expect("websocket error");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).expect("event json");
            if v["type"] == "recording_ready" {
                assert_eq!(v["video_id"], ended["recording_video_id"]);
                assert_eq!(v["stream_id"], ended["id"]);
                break;
            }
        }
    }
    // Deleting the video takes its file and thumbnail with it.
    let video_id = video["id"].as_str().expect("video id");
    let r = server
        .http
        .delete(server.url(&format!("/api/videos/{video_id}?uploader_id=user_rec")))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    assert!(!Path::new(video["file_path"].as_str().expect("path")).exists());
    assert!(
        !data
            .path("thumbnails")
            .join(format!("{video_id}.jpg"))
            .exists()
    );
    server.kill().await;
    data.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_without_recording_leaves_no_video() {
    let _slot = slot().await;
    let data = Data::new();
    let server = Server::start(&data, &[("ENABLE_STREAM_RECORDING", "true")]).await;
    // The stream's own choice wins over the setting.
    let stream = server.create_stream(json!({"record": false})).await;
    assert_eq!(stream["record"], false);
    let id = stream["id"].as_str().expect("id").to_string();
    finished(
        publish(&server.rtmp_url(&stream), 3),
        Duration::from_secs(30),
    )
    .await;
    // The publisher left: the grace period passes and the stream ends by itself.
    let ended = server
        .wait_stream(&id, "", Duration::from_secs(20), "end", |s| {
            s["status"] == "ended"
        })
        .await;
    sleep(Duration::from_secs(1)).await;
    let (_, ended_later) = server.json(&format!("/api/streams/{id}")).await;
    assert_eq!(ended_later["recording_video_id"], Value::Null, "{ended}");
    let (_, videos) = server.json("/api/videos").await;
    assert_eq!(videos.as_array().map(Vec::len), Some(0), "{videos}");
    assert!(!data.path("recordings").join(&id).exists());
    server.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_stream_thumbnail_needs_access() {
    let _slot = slot().await;
    let data = Data::new();
    let server = Server::start(&data, &[]).await;
    let password = "open-sesame";
    let stream = server
        .create_stream(json!({"is_private": true, "password": password, "record": true}))
        .await;
    let id = stream["id"].as_str().expect("id").to_string();
    // Smaller than a thumbnail's 640: kept at its own size, never upscaled.
    let publisher = publish_sized(&server.rtmp_url(&stream), 5, "320x180");
    let live = server
        .wait_stream(
            &id,
            &format!("?password={password}"),
            Duration::from_secs(20),
            "thumbnail",
            |s| s["thumbnail_url"].is_string(),
        )
        .await;
    let thumb = server.local(live["thumbnail_url"].as_str().expect("url"));
    assert_eq!(
        server.bytes(&thumb).await.0,
        404,
        "served without a password"
    );
    let (status, _, _) = server.bytes(&format!("{thumb}?password=wrong-one")).await;
    assert_eq!(status, 404, "served with a wrong password");
    let (status, _, jpeg) = server.bytes(&format!("{thumb}?password={password}")).await;
    assert_eq!(status, 200);
    assert_jpeg(&jpeg, data.dir.path(), 320, 180).await;
    // The playback token a player got from the master playlist works too.
    let r = server
        .http
        .get(server.url(&format!("/hls/{id}.m3u8?password={password}")))
        .send()
        .await
        .expect("master");
    assert_eq!(r.status(), 200);
    let master = r.text().await.expect("master text");
    let token = master
        .split(['?', '&', '\n'])
        .find_map(|p| p.strip_prefix("t="))
        .expect("playback token in the master playlist");
    assert_eq!(server.bytes(&format!("{thumb}?t={token}")).await.0, 200);
    assert_eq!(server.bytes(&format!("{thumb}?t=forged")).await.0, 404);
    // The recording of a private stream is a private video.
    finished(publisher, Duration::from_secs(30)).await;
    let ended = server
        .wait_stream(
            &id,
            &format!("?password={password}"),
            Duration::from_secs(30),
            "recording",
            |s| s["recording_video_id"].is_string(),
        )
        .await;
    let video_id = ended["recording_video_id"].as_str().expect("video id");
    let (status, _) = server.json(&format!("/api/videos/{video_id}")).await;
    assert_eq!(status, 404, "a private stream's recording is public");
    let (status, _, _) = server
        .bytes(&server.url(&format!("/api/videos/{video_id}/thumbnail.jpg")))
        .await;
    assert_eq!(status, 404);
    server.kill().await;
}

/// Lines in the recording's index: the init segment, then one per complete media segment.
fn index_lines(data: &Data, stream_id: &str) -> usize {
    std::fs::read_to_string(data.path("recordings").join(stream_id).join("take1.idx"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_mid_stream_still_ends_and_saves_the_recording() {
    let _slot = slot().await;
    let data = Data::new();
    let settings = [("ENABLE_STREAM_RECORDING", "true")];
    let server = Server::start(&data, &settings).await;
    let stream = server.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    let mut publisher = publish(&server.rtmp_url(&stream), 60);
    server
        .wait_stream(&id, "", Duration::from_secs(20), "live", |s| {
            s["status"] == "live"
        })
        .await;
    // Five complete one-second segments on disk, then the server dies without any shutdown.
    let deadline = Instant::now() + Duration::from_secs(30);
    while index_lines(&data, &id) < 6 {
        assert!(Instant::now() < deadline, "the recording does not grow");
        sleep(Duration::from_millis(100)).await;
    }
    server.kill().await;
    let on_disk = index_lines(&data, &id) - 1;
    let _ = publisher.start_kill();
    let _ = publisher.wait().await;

    // A new process on the same database and folders, with no publisher coming back.
    let restarted_at = Instant::now();
    let server = Server::start(&data, &settings).await;
    let (_, s) = server.json(&format!("/api/streams/{id}")).await;
    assert_eq!(s["status"], "live", "ended before the grace period: {s}");
    let ended = server
        .wait_stream(&id, "", Duration::from_secs(30), "end and recording", |s| {
            s["status"] == "ended" && s["recording_video_id"].is_string()
        })
        .await;
    assert!(restarted_at.elapsed() >= Duration::from_secs(GRACE_SECS));
    assert!(ended["end_time"].is_string());
    assert!(
        ended["duration"].as_i64().is_some_and(|d| d >= 5),
        "{ended}"
    );
    // Every segment on disk when the server died is in the video (the one in flight is not).
    check_recording(&server, &data, &ended, on_disk as f64).await;
    assert!(!data.path("recordings").join(&id).exists());
    server.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_returning_after_a_crash_continues_the_recording() {
    let _slot = slot().await;
    let data = Data::new();
    // Long enough for the publisher to come back after the restart.
    let settings = [
        ("ENABLE_STREAM_RECORDING", "true"),
        ("LIVE_GRACE_PERIOD", "5"),
    ];
    let server = Server::start(&data, &settings).await;
    let stream = server.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    let mut publisher = publish(&server.rtmp_url(&stream), 60);
    let deadline = Instant::now() + Duration::from_secs(30);
    while index_lines(&data, &id) < 4 {
        assert!(Instant::now() < deadline, "the recording does not grow");
        sleep(Duration::from_millis(100)).await;
    }
    server.kill().await;
    let first_take = (index_lines(&data, &id) - 1) as f64;
    let _ = publisher.start_kill();
    let _ = publisher.wait().await;

    let server = Server::start(&data, &settings).await;
    finished(
        publish(&server.rtmp_url(&stream), 4),
        Duration::from_secs(30),
    )
    .await;
    let (_, s) = server.json(&format!("/api/streams/{id}")).await;
    assert_eq!(s["status"], "live", "{s}");
    let ended = server
        .wait_stream(&id, "", Duration::from_secs(40), "end and recording", |s| {
            s["status"] == "ended" && s["recording_video_id"].is_string()
        })
        .await;
    // Both takes, one after the other, in one video.
    check_recording(&server, &data, &ended, first_take + 4.0).await;
    assert!(!data.path("recordings").join(&id).exists());
    server.kill().await;
}
