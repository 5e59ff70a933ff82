//! S3-compatible storage against a real S3 server on this machine (moto's, started here on a free
//! port): an upload goes to the bucket, is processed from it into HLS/DASH that ffprobe plays
//! through the API, the original is served with byte ranges, a failed run keeps the original and
//! the earlier outputs, and deleting the video empties its part of the bucket.

mod common;

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, TestServer};
use serde_json::json;

const BUCKET: &str = "ferrocast-media";
const PREFIX: &str = "site";

/// moto's S3 server, killed when dropped.
struct S3Server {
    child: Child,
    endpoint: String,
    http: reqwest::Client,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3Server {
    /// Starts the server with an empty bucket; a server that cannot start fails the test with
    /// the reason, since skipping would hide that S3 storage went untested.
    async fn start(log_dir: &Path) -> S3Server {
        let port = StdListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = log_dir.join("moto.log");
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("log file"))
            .stderr(std::fs::File::create(log.with_extension("err")).expect("log file"))
            .spawn()
            .expect("python3 must be installed to run the S3 server for this test");
        let mut server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = server.http.get(&server.endpoint).send().await
                && r.status().is_success()
            {
                break;
            }
            let exited = server.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let err = std::fs::read_to_string(log.with_extension("err")).unwrap_or_default();
                panic!(
                    "the S3 server (moto) did not start ({exited:?}); install it with \
                     `python3 -m pip install 'moto[server]'` (scripts/install-test-deps.sh).\n{err}"
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let r = server
            .http
            .put(format!("{}/{BUCKET}", server.endpoint))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "create bucket: {}", r.status());
        server
    }

    /// Every key in the bucket, read by a client of its own rather than through the server.
    async fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = format!("{}/{BUCKET}?list-type=2", self.endpoint);
            if let Some(t) = &token {
                url.push_str(&format!("&continuation-token={t}"));
            }
            let xml = self
                .http
                .get(url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            keys.extend(tags(&xml, "Key"));
            token = tags(&xml, "NextContinuationToken").into_iter().next();
            if token.is_none() {
                return keys;
            }
        }
    }

    /// Overwrites an object as another client with the same credentials would (moto refuses
    /// anonymous writes to objects a signed client made).
    async fn put(&self, key: &str, body: &'static [u8]) {
        use object_store::ObjectStoreExt;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(BUCKET)
            .with_region("us-east-1")
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .build()
            .unwrap();
        client
            .put(&object_store::path::Path::from(key), body.into())
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e}"));
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("STORAGE_BACKEND", "s3".into()),
            ("S3_BUCKET", BUCKET.into()),
            ("S3_ENDPOINT", self.endpoint.clone()),
            ("S3_ALLOW_HTTP", "true".into()),
            ("S3_ACCESS_KEY_ID", "testing".into()),
            ("S3_SECRET_ACCESS_KEY", "testing".into()),
            ("S3_PREFIX", PREFIX.into()),
            ("TRANSCODING_PRESET", "ultrafast".into()),
        ]
    }
}

fn tags(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(v, _)| v.to_string()))
        .collect()
}

/// Files left under a local folder (the staging areas must not keep copies).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// ffprobe's stream kinds of a URL, failing on any error.
fn probe_kinds(url: &str) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type",
            "-of",
            "csv=p=0",
            url,
        ])
        .output()
        .expect("ffprobe must be installed for the tests");
    assert!(
        out.status.success(),
        "ffprobe {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

async fn get_range(s: &TestServer, path: &str, range: &str) -> reqwest::Response {
    s.http
        .get(s.url(path))
        .header("range", range)
        .send()
        .await
        .unwrap()
}

async fn upload_process_serve_delete(backend: Backend) {
    let scratch = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(scratch.path()).await;
    let settings = s3.settings();
    let pairs: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let Some(s) = TestServer::start(backend, &pairs).await else {
        return;
    };
    let (st, _) = s.get("/health").await;
    assert_eq!(st, 200, "the server did not start on S3 storage");
    let uploads = s.data_dir().join("uploads/videos");
    let pictures = s.data_dir().join("uploads/thumbnails");

    let clip = common::make_video(scratch.path(), "clip.mp4", 3);
    let original = std::fs::read(&clip).unwrap();
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(original.clone()).file_name("clip.mp4"),
        )
        .text("title", "Stored in S3")
        .text("uploader_id", "user_s3");
    let (st, video) = s
        .send(s.http.post(s.url("/api/videos/upload")).multipart(form))
        .await;
    assert_eq!(st, 201, "upload: {video}");
    let id = video["id"].as_str().unwrap().to_string();
    let location = video["file_path"].as_str().unwrap();
    let original_key = format!("{PREFIX}/videos/{id}_clip.mp4");
    assert_eq!(location, format!("s3://{BUCKET}/{original_key}"));
    assert!(s3.keys().await.contains(&original_key));
    // (The processing job may already be copying the original into its working folder under
    // `renditions/`; that copy is checked for after the job, below.)
    let stored_locally: Vec<PathBuf> = files_under(&uploads)
        .into_iter()
        .filter(|p| !p.starts_with(uploads.join("renditions")))
        .collect();
    assert!(
        stored_locally.is_empty(),
        "the original stays only in the bucket: {stored_locally:?}"
    );

    let job = s.ended_job(&id, None, 0).await;
    assert_eq!(job["state"], "completed", "{job}");
    let (_, video) = s.get(&format!("/api/videos/{id}")).await;
    let hls = video["hls_url"].as_str().expect("hls_url").to_string();
    let dash = video["dash_url"].as_str().expect("dash_url").to_string();
    let keys = s3.keys().await;
    let renditions = format!("{PREFIX}/videos/renditions/{id}/");
    for name in ["playlist.m3u8", "manifest.mpd", "preview.mp4"] {
        assert!(
            keys.contains(&format!("{renditions}{name}")),
            "{name} not in {keys:?}"
        );
    }
    let segments: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with(&renditions) && k.ends_with(".m4s"))
        .collect();
    assert!(segments.len() >= 2, "segments: {keys:?}");
    let card = format!("{PREFIX}/thumbnails/{id}/card.jpg");
    assert!(keys.contains(&card), "{keys:?}");
    let left = [files_under(&uploads), files_under(&pictures)].concat();
    assert!(left.is_empty(), "working copies left behind: {left:?}");

    // Played through the API from the bucket: the master, its media playlists and segments.
    let kinds = probe_kinds(&s.url(&hls));
    assert!(kinds.iter().any(|k| k == "video"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "audio"), "{kinds:?}");
    let kinds = probe_kinds(&s.url(&dash));
    assert!(kinds.iter().any(|k| k == "video"), "{kinds:?}");
    let segment = segments[0].rsplit('/').next().unwrap();
    let r = s
        .http
        .get(s.url(&format!("/api/stream/{id}/hls/{segment}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let r = s
        .http
        .get(s.url(&format!("/api/videos/{id}/thumbnails/card.jpg")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert!(r.bytes().await.unwrap().starts_with(&[0xFF, 0xD8]));

    // The original with byte ranges, as stored.
    let file = format!("/api/videos/{id}/file");
    let len = original.len();
    let r = get_range(&s, &file, "bytes=100-1099").await;
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 100-1099/{len}").as_str()
    );
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert_eq!(&r.bytes().await.unwrap()[..], &original[100..1100]);
    let r = get_range(&s, &file, "bytes=-64").await;
    assert_eq!(r.status(), 206);
    assert_eq!(&r.bytes().await.unwrap()[..], &original[len - 64..]);
    let r = get_range(&s, &file, &format!("bytes={len}-")).await;
    assert_eq!(r.status(), 416);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{len}").as_str()
    );
    let r = s.http.get(s.url(&file)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    assert_eq!(&r.bytes().await.unwrap()[..], &original[..]);

    // A run that fails (the stored original spoiled behind the server's back) keeps the
    // original and the streams of the run before.
    s3.put(&original_key, b"no longer a video").await;
    let (st, body) = s
        .post(
            &format!("/api/videos/{id}/transcode?uploader_id=user_s3"),
            json!({"profiles": ["360p"]}),
        )
        .await;
    assert_eq!(st, 202, "{body}");
    let job = s.ended_job(&id, None, 1).await;
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap_or("");
    assert!(
        !error.contains(&s3.endpoint),
        "storage details leak: {error}"
    );
    let after = s3.keys().await;
    assert!(
        after.contains(&original_key),
        "a failure never deletes the original"
    );
    for k in &keys {
        assert!(after.contains(k), "{k} lost by a failed run");
    }
    let r = s.http.get(s.url(&hls)).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let (st, _) = s
        .delete(&format!("/api/videos/{id}?uploader_id=user_s3"))
        .await;
    assert_eq!(st, 204);
    let left: Vec<String> = s3
        .keys()
        .await
        .into_iter()
        .filter(|k| k.contains(&id))
        .collect();
    assert!(left.is_empty(), "objects left after delete: {left:?}");
    let r = get_range(&s, &file, "bytes=0-9").await;
    assert_eq!(r.status(), 404);
    s.stop().await;
}

on_both_databases!(upload_process_serve_delete);

/// A bucket that cannot be used stops the server at start, saying which and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_bucket_stops_the_start() {
    let scratch = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(scratch.path()).await;
    let mut settings = s3.settings();
    settings.retain(|(k, _)| *k != "S3_BUCKET");
    settings.push(("S3_BUCKET", "no-such-bucket".into()));
    settings.extend([
        (
            "DATABASE_URL",
            format!("sqlite:///{}", scratch.path().join("t.db").display()),
        ),
        (
            "UPLOAD_DIR",
            scratch.path().join("videos").display().to_string(),
        ),
        (
            "THUMBNAIL_DIR",
            scratch.path().join("pictures").display().to_string(),
        ),
    ]);
    let config = ferrocast::config::Config::load(&ferrocast::config::Source::from_pairs(
        settings.iter().map(|(k, v)| (*k, v.as_str())),
    ))
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let started = tokio::time::timeout(
        Duration::from_secs(60),
        ferrocast::run(config, listener, std::future::pending()),
    )
    .await
    .expect("a bad bucket must fail the start, not hang it");
    let err = format!("{:#}", started.expect_err("started on a missing bucket"));
    assert!(err.contains("no-such-bucket"), "{err}");
}

/// A file larger than one part goes up as a multipart upload and comes back byte for byte, whole
/// and by range; the local copy is gone once it is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_go_up_in_parts() {
    let scratch = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(scratch.path()).await;
    let mut settings = s3.settings();
    settings.extend([
        (
            "UPLOAD_DIR",
            scratch.path().join("videos").display().to_string(),
        ),
        (
            "THUMBNAIL_DIR",
            scratch.path().join("pictures").display().to_string(),
        ),
    ]);
    let config = ferrocast::config::Config::load(&ferrocast::config::Source::from_pairs(
        settings.iter().map(|(k, v)| (*k, v.as_str())),
    ))
    .unwrap();
    let storage = ferrocast::storage::Storage::open(&config).await.unwrap();
    let shelf = &storage.videos;
    assert!(!shelf.is_local());
    // 20 MiB and a bit: two full parts and a short last one, with content that shows misorder.
    let data: Vec<u8> = (0..(20 << 20) + 12_345u32)
        .map(|i| (i % 251) as u8 ^ (i >> 20) as u8)
        .collect();
    let staged = shelf.dir().join("big.bin");
    std::fs::write(&staged, &data).unwrap();
    shelf.store_file("video_big_x.bin", &staged).await.unwrap();
    assert!(!staged.exists(), "the local copy stays behind");
    assert!(
        s3.keys()
            .await
            .contains(&format!("{PREFIX}/videos/video_big_x.bin"))
    );

    let back = scratch.path().join("back.bin");
    shelf.fetch("video_big_x.bin", &back).await.unwrap();
    assert!(
        std::fs::read(&back).unwrap() == data,
        "fetched bytes differ"
    );

    let mut request = axum::http::HeaderMap::new();
    let (a, b) = ((8 << 20) - 10, (8 << 20) + 10);
    request.insert(
        "range",
        format!("bytes={a}-{b}").parse().expect("header value"),
    );
    let resp = shelf
        .serve("video_big_x.bin", "video/mp4", "no-cache", &request, "File")
        .await
        .unwrap();
    assert_eq!(resp.status(), 206);
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    assert_eq!(&body[..], &data[a..=b]);

    shelf.remove("video_big_x.bin").await.unwrap();
    assert!(!shelf.exists("video_big_x.bin").await.unwrap());
}
