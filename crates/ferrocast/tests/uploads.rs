//! Resumable uploads over tus 1.0, with a real server, real media made by ffmpeg and a real
//! dropped connection: the upload resumes where it stopped, progress arrives on the video's
//! channel over WebSocket and Server-Sent Events, bad input is refused early and loses nothing,
//! and abandoned uploads expire.

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::{Backend, TestServer, error_locs, make_video};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

const TUS: &str = "1.0.0";
const OCTETS: &str = "application/offset+octet-stream";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn metadata(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k} {}", b64(v)))
        .collect::<Vec<_>>()
        .join(",")
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Creates an upload; returns the response (201 expected by the caller).
async fn create(
    s: &TestServer,
    length: usize,
    meta: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = s
        .http
        .post(s.url("/api/uploads"))
        .header("Tus-Resumable", TUS)
        .header("Upload-Length", length.to_string())
        .header("Upload-Metadata", meta);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn created_location(s: &TestServer, length: usize, meta: &str) -> String {
    let r = create(s, length, meta, None).await;
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    assert_eq!(header(&r, "tus-resumable"), Some(TUS));
    assert!(
        header(&r, "upload-expires").is_some_and(|v| v.ends_with(" GMT")),
        "creation announces the expiry as an HTTP date"
    );
    header(&r, "location").unwrap().to_string()
}

async fn patch(s: &TestServer, location: &str, offset: usize, bytes: &[u8]) -> reqwest::Response {
    s.http
        .patch(s.url(location))
        .header("Tus-Resumable", TUS)
        .header("Upload-Offset", offset.to_string())
        .header("Content-Type", OCTETS)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
}

async fn head(s: &TestServer, location: &str) -> reqwest::Response {
    s.http
        .head(s.url(location))
        .header("Tus-Resumable", TUS)
        .send()
        .await
        .unwrap()
}

async fn offset_of(s: &TestServer, location: &str) -> usize {
    let r = head(s, location).await;
    assert_eq!(r.status(), 200);
    header(&r, "upload-offset").unwrap().parse().unwrap()
}

/// Starts a PATCH at `offset` that declares `declared` bytes and sends only `bytes`; returns the
/// connection, still open, with the request waiting for the rest.
async fn patch_partly(
    s: &TestServer,
    location: &str,
    offset: usize,
    declared: usize,
    bytes: &[u8],
) -> tokio::net::TcpStream {
    let mut sock = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {}\r\nTus-Resumable: {TUS}\r\nUpload-Offset: \
         {offset}\r\nContent-Type: {OCTETS}\r\nContent-Length: {declared}\r\n\r\n",
        s.addr
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(bytes).await.unwrap();
    sock.flush().await.unwrap();
    sock
}

/// Sends a PATCH that declares the whole rest of the file but stops after `send` bytes, then
/// closes the connection, as a client whose network dropped would.
async fn patch_and_drop(s: &TestServer, location: &str, offset: usize, rest: &[u8], send: usize) {
    drop(patch_partly(s, location, offset, rest.len(), &rest[..send]).await);
}

fn tus_files(s: &TestServer) -> Vec<String> {
    match std::fs::read_dir(s.data_dir().join("uploads/videos/.tus")) {
        Ok(dir) => dir
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The events of a video's WebSocket channel until `last` arrives (bounded wait).
async fn ws_events_until(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    last: &str,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut events = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {last} event; got {events:?}"))
            .expect("socket open")
            .expect("frame");
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            let ev: Value = serde_json::from_str(t.as_str()).unwrap();
            let done = ev["type"] == last;
            events.push(ev);
            if done {
                return events;
            }
        }
    }
}

async fn resumes_after_a_dropped_connection(backend: Backend) {
    let Some(s) = TestServer::start(backend, &[("ENABLE_TRANSCODING", "false")]).await else {
        return;
    };
    let source = make_video(s.data_dir(), "holiday.mp4", 20);
    let bytes = std::fs::read(&source).unwrap();
    let len = bytes.len();
    assert!(
        len > 200_000,
        "the test needs a file of some size, got {len}"
    );

    // Discovery.
    let r = s
        .http
        .request(reqwest::Method::OPTIONS, s.url("/api/uploads"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "tus-version"), Some(TUS));
    let ext = header(&r, "tus-extension").unwrap().to_string();
    for e in ["creation", "termination", "expiration"] {
        assert!(ext.split(',').any(|x| x == e), "{e} missing from {ext}");
    }
    assert!(header(&r, "tus-max-size").is_some());
    // A browser's preflight for a PATCH with tus headers is a CORS answer, and allows them.
    let r = s
        .http
        .request(reqwest::Method::OPTIONS, s.url("/api/uploads/video_x"))
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "PATCH")
        .header(
            "Access-Control-Request-Headers",
            "tus-resumable,upload-offset,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let allowed = header(&r, "access-control-allow-headers")
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(allowed.contains("upload-offset"), "{allowed}");

    let location = created_location(
        &s,
        len,
        &metadata(&[
            ("filename", "holiday.mp4"),
            ("title", "Holiday, resumed"),
            ("uploader_id", "user_tus"),
            ("tags", "travel,sea"),
        ]),
    )
    .await;
    let id = location.rsplit('/').next().unwrap().to_string();
    assert!(id.starts_with("video_"), "{location}");
    assert_eq!(offset_of(&s, &location).await, 0);

    // Both event transports follow the upload before the video exists.
    let (mut ws, _) = tokio_tungstenite::connect_async(s.ws_url(&format!("/ws/{id}")))
        .await
        .expect("websocket on the upload's video id");
    let sse = s
        .http
        .get(s.url(&format!("/api/videos/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    let sse_task = tokio::spawn(async move {
        let mut text = String::new();
        let mut body = sse.bytes_stream();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !text.contains("event: upload_completed") {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, body.next()).await {
                Ok(Some(Ok(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
                _ => break,
            }
        }
        text
    });

    let first = 64 * 1024;
    let r = patch(&s, &location, 0, &bytes[..first]).await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        header(&r, "upload-offset"),
        Some(first.to_string().as_str())
    );

    // The network drops halfway through the next request: the server keeps what arrived.
    let sent = 100_000;
    patch_and_drop(&s, &location, first, &bytes[first..], sent).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut offset = offset_of(&s, &location).await;
    while offset != first + sent && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        offset = offset_of(&s, &location).await;
    }
    assert_eq!(offset, first + sent, "the bytes before the drop are kept");

    let (st, status) = s.get(&location).await;
    assert_eq!(st, 200, "{status}");
    assert_eq!(status["state"], "uploading");
    assert_eq!(status["bytes_received"], offset as i64);
    assert_eq!(status["total_bytes"], len as i64);
    assert_eq!(status["filename"], "holiday.mp4");
    let (st, _) = s.get(&format!("/api/videos/{id}")).await;
    assert_eq!(st, 404, "no video until the last byte");

    // A client that lost track and sends from the wrong place is told where the server is.
    let r = patch(&s, &location, first, &bytes[first..first + 10]).await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        offset_of(&s, &location).await,
        offset,
        "a refused PATCH adds nothing"
    );

    let r = patch(&s, &location, offset, &bytes[offset..]).await;
    assert_eq!(r.status(), 204, "{:?}", r.text().await);
    assert_eq!(offset_of(&s, &location).await, len);

    let (st, status) = s.get(&location).await;
    assert_eq!(st, 200);
    assert_eq!(status["state"], "completed", "{status}");
    assert_eq!(status["progress"], 100.0);
    assert_eq!(status["video"]["id"], id.as_str());
    let (st, video) = s.get(&format!("/api/videos/{id}")).await;
    assert_eq!(st, 200, "{video}");
    assert_eq!(video["title"], "Holiday, resumed");
    assert_eq!(video["uploader_id"], "user_tus");
    assert_eq!(video["tags"], serde_json::json!(["travel", "sea"]));
    assert_eq!(video["file_size"], len as i64);
    assert_eq!(video["format"], "MP4");
    let duration = video["duration"].as_f64().unwrap();
    assert!((duration - 20.0).abs() < 0.5, "ffprobe read {duration}");
    let stored = s
        .http
        .get(s.url(&format!("/api/videos/{id}/file")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        stored[..] == bytes[..],
        "the stored file is the source, byte for byte"
    );
    assert!(
        tus_files(&s).is_empty(),
        "the partial file became the video"
    );

    let events = ws_events_until(&mut ws, "upload_completed").await;
    let progress: Vec<u64> = events
        .iter()
        .filter(|e| e["type"] == "upload_progress")
        .map(|e| e["bytes_received"].as_u64().unwrap())
        .collect();
    assert!(progress.len() >= 3, "{events:?}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(progress.last().copied(), Some(len as u64));
    let last = events.last().unwrap();
    assert_eq!(last["video"]["id"], id.as_str());
    assert!(events.iter().all(|e| e["video_id"] == id.as_str()));

    let sse_text = sse_task.await.unwrap();
    assert!(sse_text.contains("event: upload_progress"), "{sse_text}");
    assert!(sse_text.contains("event: upload_completed"), "{sse_text}");
    s.stop().await;
}

async fn refusals_lose_nothing(backend: Backend) {
    let Some(s) = TestServer::start(
        backend,
        &[
            ("ENABLE_TRANSCODING", "false"),
            ("MAX_FILE_SIZE", "2000000"),
        ],
    )
    .await
    else {
        return;
    };
    let meta = metadata(&[("filename", "a.mp4"), ("uploader_id", "user_tus")]);

    // No protocol version: 412 naming the version the server speaks.
    let r = s
        .http
        .post(s.url("/api/uploads"))
        .header("Upload-Length", "10")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    assert_eq!(header(&r, "tus-version"), Some(TUS));

    // Declared too large: refused before a byte is sent.
    let r = create(&s, 2_000_001, &meta, None).await;
    assert_eq!(r.status(), 413);

    // Missing length, bad metadata and bad details name the header and the field.
    let r = s
        .http
        .post(s.url("/api/uploads"))
        .header("Tus-Resumable", TUS)
        .header("Upload-Metadata", meta.as_str())
        .send()
        .await
        .unwrap();
    let (st, body) = common::split(r).await;
    assert_eq!(st, 422);
    assert_eq!(error_locs(&body), vec![vec!["header", "Upload-Length"]]);
    let r = create(&s, 10, "title !!!notbase64", None).await;
    let (st, body) = common::split(r).await;
    assert_eq!(st, 422);
    assert_eq!(
        error_locs(&body),
        vec![vec!["header", "Upload-Metadata", "title"]]
    );
    let long = "x".repeat(201);
    let r = create(
        &s,
        10,
        &metadata(&[("title", &long), ("uploader_id", "user_tus")]),
        None,
    )
    .await;
    let (st, body) = common::split(r).await;
    assert_eq!(st, 422);
    assert_eq!(error_locs(&body), vec![vec!["Upload-Metadata", "title"]]);

    // A text file renamed .mp4 is refused as soon as its first bytes are judged.
    let text = "this is not a video, just a renamed text file\n".repeat(200);
    let location = created_location(&s, text.len(), &meta).await;
    let r = patch(&s, &location, 0, text.as_bytes()).await;
    assert_eq!(r.status(), 415);
    let (st, status) = s.get(&location).await;
    assert_eq!(st, 200);
    assert_eq!(status["state"], "failed");
    assert!(
        status["error"]
            .as_str()
            .unwrap()
            .contains("not a supported video")
    );
    assert_eq!(head(&s, &location).await.status(), 410);
    assert!(tus_files(&s).is_empty(), "the refused bytes are deleted");

    // Bytes past the declared length, the wrong content type, unknown ids.
    let video = std::fs::read(make_video(s.data_dir(), "v.mp4", 2)).unwrap();
    let location = created_location(&s, 5000, &meta).await;
    let r = patch(&s, &location, 0, &video[..6000]).await;
    assert_eq!(r.status(), 413);
    let r = s
        .http
        .patch(s.url(&location))
        .header("Tus-Resumable", TUS)
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(offset_of(&s, &location).await, 0);
    assert_eq!(head(&s, "/api/uploads/video_unknown").await.status(), 404);
    let r = patch(&s, "/api/uploads/video_unknown", 0, b"abc").await;
    assert_eq!(r.status(), 404);

    // Termination deletes the bytes.
    let r = patch(&s, &location, 0, &video[..3000]).await;
    assert_eq!(r.status(), 204);
    assert_eq!(tus_files(&s).len(), 1);
    let r = s
        .http
        .delete(s.url(&location))
        .header("Tus-Resumable", TUS)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(head(&s, &location).await.status(), 404);
    assert!(tus_files(&s).is_empty());

    // creation-with-upload: a small file in one request.
    let r = s
        .http
        .post(s.url("/api/uploads"))
        .header("Tus-Resumable", TUS)
        .header("Upload-Length", video.len().to_string())
        .header("Upload-Metadata", meta.as_str())
        .header("Content-Type", OCTETS)
        .body(video.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        header(&r, "upload-offset"),
        Some(video.len().to_string().as_str())
    );
    let location = header(&r, "location").unwrap().to_string();
    let (_, status) = s.get(&location).await;
    assert_eq!(status["state"], "completed", "{status}");
    assert_eq!(status["video"]["file_size"], video.len() as i64);
    s.stop().await;
}

on_both_databases!(resumes_after_a_dropped_connection, refusals_lose_nothing);

/// An upload made with a token is its account's alone; strangers see nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_belong_to_their_account() {
    let s = TestServer::start(
        Backend::Sqlite,
        &[
            ("ENVIRONMENT", "production"),
            ("JWT_SECRET", "a-test-secret-that-is-long-enough-0123456789"),
            ("ENABLE_TRANSCODING", "false"),
        ],
    )
    .await
    .unwrap();
    let mut tokens = Vec::new();
    for name in ["owner", "stranger"] {
        let (st, body) = s
            .post(
                "/api/auth/register",
                serde_json::json!({"username": name, "password": "correct horse"}),
            )
            .await;
        assert_eq!(st, 201, "{body}");
        tokens.push(body["access_token"].as_str().unwrap().to_string());
    }
    let meta = metadata(&[("filename", "mine.mp4")]);
    let r = create(&s, 1000, &meta, None).await;
    assert_eq!(r.status(), 401, "production needs a token to upload");
    let r = create(&s, 1000, &meta, Some(&tokens[0])).await;
    assert_eq!(r.status(), 201);
    let location = header(&r, "location").unwrap().to_string();
    let id = location.rsplit('/').next().unwrap();
    {
        let token = &tokens[1];
        let r = s
            .http
            .head(s.url(&location))
            .header("Tus-Resumable", TUS)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let r = s
            .http
            .get(s.url(&format!("/api/videos/{id}/events")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "a stranger cannot follow the upload");
    }
    let r = s
        .http
        .head(s.url(&location))
        .header("Tus-Resumable", TUS)
        .bearer_auth(&tokens[0])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}

/// An abandoned upload expires: refused at once, then swept with its bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_uploads_expire() {
    let s = TestServer::start(
        Backend::Sqlite,
        &[("ENABLE_TRANSCODING", "false"), ("UPLOAD_EXPIRATION", "2")],
    )
    .await
    .unwrap();
    let video = std::fs::read(make_video(s.data_dir(), "v.mp4", 2)).unwrap();
    let meta = metadata(&[("filename", "v.mp4"), ("uploader_id", "user_tus")]);
    let location = created_location(&s, video.len(), &meta).await;
    let id = location.rsplit('/').next().unwrap().to_string();
    let r = patch(&s, &location, 0, &video[..5000]).await;
    assert_eq!(r.status(), 204);
    let (mut ws, _) = tokio_tungstenite::connect_async(s.ws_url(&format!("/ws/{id}")))
        .await
        .unwrap();
    let events = ws_events_until(&mut ws, "upload_cancelled").await;
    assert_eq!(events.last().unwrap()["reason"], "expired");
    assert_eq!(head(&s, &location).await.status(), 404);
    assert!(tus_files(&s).is_empty());
    s.stop().await;
}

/// During one long PATCH the server records durable progress as it goes, so a crash in the
/// middle of a large file costs at most the bytes since the last record: while the request is
/// still open, HEAD already reports an offset past the first 32 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_request_records_progress_while_it_lasts() {
    let s = TestServer::start(Backend::Sqlite, &[("ENABLE_TRANSCODING", "false")])
        .await
        .unwrap();
    // A real clip's first bytes (the format is sniffed from them), then filler: the upload is
    // never finished, so nothing reads past them.
    let mut body = std::fs::read(make_video(s.data_dir(), "big.mp4", 2)).unwrap();
    let declared = 80 * 1024 * 1024;
    let sent = 40 * 1024 * 1024;
    body.resize(sent, 0);
    let meta = metadata(&[("filename", "big.mp4"), ("uploader_id", "user_tus")]);
    let location = created_location(&s, declared, &meta).await;

    let sock = patch_partly(&s, &location, 0, declared, &body).await;

    // The request is still open (half its body is missing), yet progress was recorded.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut offset = offset_of(&s, &location).await;
    while offset < 32 * 1024 * 1024 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        offset = offset_of(&s, &location).await;
    }
    assert!(
        (32 * 1024 * 1024..=sent).contains(&offset),
        "offset {offset} while the request is open"
    );
    let (st, status) = s.get(&location).await;
    assert_eq!(st, 200, "{status}");
    assert_eq!(status["state"], "uploading");

    // The connection drops: everything that arrived is kept.
    drop(sock);
    let deadline = Instant::now() + Duration::from_secs(10);
    while offset != sent && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        offset = offset_of(&s, &location).await;
    }
    assert_eq!(offset, sent);
    let file = s
        .data_dir()
        .join("uploads/videos/.tus")
        .join(format!("{}.part", location.rsplit('/').next().unwrap()));
    assert_eq!(std::fs::metadata(&file).unwrap().len(), sent as u64);
    s.stop().await;
}

/// Past MAX_CONCURRENT_UPLOADS a new upload body is refused at once with 503 and Retry-After,
/// on both paths, and nothing is left behind; when the slot frees, uploads go through again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_refuses_new_upload_bodies_until_a_slot_frees() {
    let s = TestServer::start(
        Backend::Sqlite,
        &[
            ("ENABLE_TRANSCODING", "false"),
            ("MAX_CONCURRENT_UPLOADS", "1"),
        ],
    )
    .await
    .unwrap();
    let clip = make_video(s.data_dir(), "clip.mp4", 2);
    let bytes = std::fs::read(&clip).unwrap();
    let multipart = || async {
        s.http
            .post(s.url("/api/videos/upload"))
            .multipart(common::file_form(&clip).text("uploader_id", "user_busy"))
            .send()
            .await
            .unwrap()
    };
    let meta = metadata(&[("filename", "slow.mp4"), ("uploader_id", "user_tus")]);
    let declared = 80 * 1024 * 1024;
    let slow = created_location(&s, declared, &meta).await;
    let other = created_location(&s, bytes.len(), &meta).await;

    // A slow client holds the one slot: 40 MiB of its 80 sent, the request still open. (A real
    // clip's first bytes, then filler: the upload is never finished.)
    let mut held = bytes.clone();
    held.resize(40 * 1024 * 1024, 0);
    let sock = patch_partly(&s, &slow, 0, declared, &held).await;
    // Progress recorded means the PATCH is past its checks and taking the body, slot in hand.
    let deadline = Instant::now() + Duration::from_secs(30);
    while offset_of(&s, &slow).await == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        offset_of(&s, &slow).await > 0,
        "the slow PATCH is under way"
    );

    let refused = multipart().await;
    assert_eq!(refused.status(), 503);
    assert_eq!(header(&refused, "retry-after"), Some("5"));
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("MAX_CONCURRENT_UPLOADS = 1"),
        "{body}"
    );
    let r = patch(&s, &other, 0, &bytes).await;
    assert_eq!(r.status(), 503);
    assert_eq!(header(&r, "retry-after"), Some("5"));
    assert_eq!(header(&r, "tus-resumable"), Some(TUS));
    assert_eq!(
        offset_of(&s, &other).await,
        0,
        "the refused PATCH wrote nothing"
    );
    let incoming: Vec<_> = std::fs::read_dir(s.data_dir().join("uploads/videos"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".incoming-"))
        .collect();
    assert!(incoming.is_empty(), "a refused upload left {incoming:?}");

    // The slow client gives up: the slot is free again for both paths.
    drop(sock);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut r = multipart().await;
    while r.status() == 503 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        r = multipart().await;
    }
    assert_eq!(r.status(), 201);
    let r = patch(&s, &other, 0, &bytes).await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        header(&r, "upload-offset"),
        Some(bytes.len().to_string().as_str())
    );
    s.stop().await;
}
