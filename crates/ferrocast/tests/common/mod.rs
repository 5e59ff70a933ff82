//! Starts the real server in-process on a free port, against a fresh SQLite file or a fresh
//! PostgreSQL database, with its own data folder.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use ferrocast::config::{Config, Source};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the suite creates its databases on; set to `skip` to run SQLite only.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("FERROCAST_TEST_POSTGRES_URL") {
        Ok(v) if v == "skip" => None,
        Ok(v) => Some(v),
        Err(_) => Some("postgres://postgres@127.0.0.1:5432/postgres".into()),
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    /// Where RTMP ingest listens (an ephemeral port of its own).
    pub rtmp_port: u16,
    pub base: String,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pg_database: Option<(String, String)>,
}

/// A fresh database on the PostgreSQL server `admin`: (its name, its URL).
pub async fn create_pg_database(admin: &str) -> (String, String) {
    use sqlx::Connection;
    let name = format!(
        "ferrocast_test_{}",
        ferrocast::ids::secret(12).to_ascii_lowercase()
    );
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is needed for the postgres half of the suite ({admin}): {e}. \
             Set FERROCAST_TEST_POSTGRES_URL to another server, or to `skip`."
            )
        });
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("bad FERROCAST_TEST_POSTGRES_URL"),
    };
    (name, url)
}

impl TestServer {
    pub async fn start(backend: Backend, settings: &[(&str, &str)]) -> Option<Self> {
        Self::start_on("127.0.0.1:0", backend, settings).await
    }

    /// `None` when the backend is PostgreSQL and the suite was told to skip it.
    pub async fn start_on(bind: &str, backend: Backend, settings: &[(&str, &str)]) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut pg_database = None;
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite:///{}", dir.path().join("test.db").display()),
            Backend::Postgres => {
                let admin = postgres_admin_url()?;
                let (name, url) = create_pg_database(&admin).await;
                pg_database = Some((admin, name));
                url
            }
        };
        let listener = TcpListener::bind(bind).await.expect("bind test port");
        let addr = listener.local_addr().unwrap();
        let port = addr.port().to_string();
        let rtmp = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind rtmp port");
        let rtmp_port = rtmp.local_addr().unwrap().port();
        let uploads = dir.path().join("uploads/videos");
        let thumbs = dir.path().join("uploads/thumbnails");
        let recordings = dir.path().join("recordings");
        let mut pairs: Vec<(String, String)> = vec![
            ("PORT".into(), port.clone()),
            ("HOST".into(), "127.0.0.1".into()),
            ("DATABASE_URL".into(), database_url),
            ("UPLOAD_DIR".into(), uploads.display().to_string()),
            ("THUMBNAIL_DIR".into(), thumbs.display().to_string()),
            ("RECORDING_DIR".into(), recordings.display().to_string()),
            ("HLS_SERVER_PORT".into(), port.clone()),
            ("HLS_SERVER_HOST".into(), "127.0.0.1".into()),
            ("RTMP_SERVER_PORT".into(), rtmp_port.to_string()),
            ("RTMP_SERVER_HOST".into(), "127.0.0.1".into()),
            ("LOG_LEVEL".into(), "warn".into()),
        ];
        for (k, v) in settings {
            pairs.retain(|(pk, _)| pk != k);
            pairs.push((k.to_string(), v.to_string()));
        }
        let config = Config::load(&Source::from_pairs(pairs)).expect("valid test config");
        let (tx, rx) = oneshot::channel::<()>();
        let listeners = ferrocast::Listeners {
            http: listener,
            rtmp: Some(rtmp),
            hls: None,
        };
        let handle = tokio::spawn(ferrocast::serve(config, listeners, async move {
            let _ = rx.await;
        }));
        let base = format!("http://{addr}");
        let http = reqwest::Client::new();
        // Ready when /health answers.
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{base}/health")).send().await
                && r.status().is_success()
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        Some(TestServer {
            addr,
            rtmp_port,
            base,
            dir,
            http,
            shutdown: Some(tx),
            handle: Some(handle),
            pg_database,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The body of a GET on `url` (a whole URL, as playlists name them) as text.
    pub async fn text(&self, url: &str) -> String {
        let r = self.http.get(url).send().await.expect("GET");
        assert!(r.status().is_success(), "GET {url}: {}", r.status());
        r.text().await.expect("a text body")
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.expect("GET");
        split(r).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("POST");
        split(r).await
    }

    pub async fn post_empty(&self, path: &str) -> (u16, Value) {
        let r = self.http.post(self.url(path)).send().await.expect("POST");
        split(r).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .delete(self.url(path))
            .send()
            .await
            .expect("DELETE");
        split(r).await
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        split(req.send().await.expect("request")).await
    }

    /// For uploads the server refuses mid-body: it answers and closes while the client is still
    /// sending, and the client's kernel may then drop the answer on the connection reset. Either
    /// outcome is a refusal; `None` is the reset.
    pub async fn send_refused(&self, req: reqwest::RequestBuilder) -> Option<(u16, Value)> {
        match req.send().await {
            Ok(r) => Some(split(r).await),
            Err(e) => {
                let text = format!("{e:?}").to_lowercase();
                assert!(
                    text.contains("reset")
                        || text.contains("broken pipe")
                        || text.contains("closed"),
                    "unexpected client error: {e:?}"
                );
                None
            }
        }
    }

    /// The newest job of a video once it has ended, waiting (bounded) until the video has more
    /// than `after` jobs, so a caller that queued another job does not get the previous one.
    pub async fn ended_job(&self, video_id: &str, token: Option<&str>, after: usize) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
        loop {
            let mut req = self
                .http
                .get(self.url(&format!("/api/videos/{video_id}/jobs")));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let (st, jobs) = self.send(req).await;
            assert_eq!(st, 200, "{jobs}");
            let all = jobs.as_array().cloned().unwrap_or_default();
            if all.len() > after
                && let Some(job) = all.first()
                && matches!(
                    job["state"].as_str(),
                    Some("completed" | "failed" | "cancelled")
                )
            {
                return job.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "job did not finish: {jobs}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Uploads `path` as `uploader` and waits (bounded) until it is processed; the video's JSON.
    pub async fn upload_processed(&self, path: &Path, uploader: &str) -> Value {
        let form = file_form(path).text("uploader_id", uploader.to_string());
        let (st, video) = self
            .send(
                self.http
                    .post(self.url("/api/videos/upload"))
                    .multipart(form),
            )
            .await;
        assert_eq!(st, 201, "upload: {video}");
        let id = video["id"].as_str().unwrap().to_string();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
        loop {
            let (st, v) = self.get(&format!("/api/videos/{id}")).await;
            assert_eq!(st, 200, "{v}");
            match v["processing_status"].as_str() {
                Some("completed") => return v,
                Some("failed") => panic!("processing failed: {v}"),
                _ => {}
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not processed in time: {v}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Creates a stream as the seed's client does and returns its JSON.
    pub async fn create_stream(&self, extra: Value) -> Value {
        let mut body = serde_json::json!({
            "title": "Test stream",
            "description": "d",
            "streamer_id": "streamer_123",
            "content_type": "gaming",
            "category": "Gaming",
            "tags": ["a", "b"],
            "max_viewers": 100,
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let (status, json) = self.post("/api/streams", body).await;
        assert_eq!(status, 201, "create stream: {json}");
        json
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), h).await;
        }
        if let Some((admin, name)) = self.pg_database.take() {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
        }
    }
}

/// A database that outlives one server, for tests that stop a server and start another on the
/// same data. Pass `url` as `DATABASE_URL` in the servers' settings.
pub struct SharedDatabase {
    pub url: String,
    pg_database: Option<(String, String)>,
}

impl SharedDatabase {
    /// `None` when the backend is PostgreSQL and the suite was told to skip it.
    pub async fn new(backend: Backend, dir: &Path) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self {
                url: format!("sqlite:///{}", dir.join("shared.db").display()),
                pg_database: None,
            }),
            Backend::Postgres => {
                let admin = postgres_admin_url()?;
                let (name, url) = create_pg_database(&admin).await;
                Some(Self {
                    url,
                    pg_database: Some((admin, name)),
                })
            }
        }
    }

    pub async fn drop_database(mut self) {
        if let Some((admin, name)) = self.pg_database.take() {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
        }
    }
}

pub async fn split(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json)
}

/// The `loc` lists of a 422 response.
pub fn error_locs(body: &Value) -> Vec<Vec<String>> {
    body["detail"]
        .as_array()
        .map(|errs| {
            errs.iter()
                .map(|e| {
                    e["loc"]
                        .as_array()
                        .map(|l| {
                            l.iter()
                                .map(|s| s.as_str().unwrap_or("").to_string())
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A small real video made by ffmpeg: `seconds` of 320x240 test pattern with a tone.
pub fn make_video(dir: &Path, name: &str, seconds: u32) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size=320x240:rate=25:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={seconds}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(&out)
        .status()
        .expect("ffmpeg must be installed for the tests (apt-get install ffmpeg)");
    assert!(status.success(), "ffmpeg failed to make {name}");
    out
}

/// Starts ffmpeg publishing a generated 640x360 test pattern with a tone to `rtmp_url` for
/// `seconds`, at real-time pace.
pub fn publish(rtmp_url: &str, seconds: u32) -> std::process::Child {
    Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=640x360:rate=30:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={seconds}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-f",
            "flv",
        ])
        .arg(rtmp_url)
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("ffmpeg must be installed for the tests")
}

/// Runs `$body(backend)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(super::common::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(super::common::Backend::Postgres).await
                }
            }
        )+
    };
}

/// A multipart upload form holding the file at `path` under its own name.
pub fn file_form(path: &Path) -> reqwest::multipart::Form {
    let bytes = std::fs::read(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name),
    )
}

/// Codec names ffprobe finds in an HLS URL.
pub async fn probe_codecs(url: &str) -> Vec<String> {
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::process::Command::new("/usr/bin/ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name",
                "-of",
                "csv=p=0",
                url,
            ])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("ffprobe timed out")
    .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches(',').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}
