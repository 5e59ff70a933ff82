//! The REST API's behaviour, run against SQLite and PostgreSQL alike.

mod common;

use common::{Backend, TestServer, error_locs, make_video};
use serde_json::{Value, json};

on_both_databases!(
    stream_lifecycle,
    stream_listing_filters,
    invalid_input_names_the_field,
    private_streams_stay_private,
    chat_history_limits_and_rate,
    video_upload_and_metadata,
    bad_uploads_lose_nothing,
    video_reactions_and_views,
    playlists,
    stats_are_counted,
    accounts_and_production_mode,
);

async fn stream_lifecycle(backend: Backend) {
    let Some(s) = TestServer::start(backend, &[("STREAM_KEY_LENGTH", "24")]).await else {
        return;
    };
    let stream = s.create_stream(json!({"quality": "720p"})).await;
    let id = stream["id"].as_str().unwrap();
    let key = stream["stream_key"].as_str().unwrap();
    assert!(id.starts_with("stream_"));
    assert_eq!(key.len(), 24);
    assert_eq!(stream["status"], "scheduled");
    assert_eq!(stream["quality"], "720p");
    assert_eq!(stream["password"], Value::Null);
    assert_eq!(
        stream["rtmp_url"],
        format!("rtmp://127.0.0.1:{}/live/{key}", s.rtmp_port)
    );
    let hls = stream["hls_url"].as_str().unwrap();
    assert!(hls.contains(id) && !hls.contains(key), "{hls}");
    assert_eq!(
        stream["websocket_url"],
        format!("ws://localhost:{}/ws/{id}", s.addr.port())
    );

    // Nobody but a signed-in owner sees the key again.
    let (st, got) = s.get(&format!("/api/streams/{id}")).await;
    assert_eq!(st, 200);
    assert_eq!(got["stream_key"], Value::Null);
    assert_eq!(got["rtmp_url"], Value::Null);
    assert_eq!(got["title"], "Test stream");

    // Starting needs the streamer's id, and only theirs.
    let (st, body) = s.post_empty(&format!("/api/streams/{id}/start")).await;
    assert_eq!(st, 422, "{body}");
    assert_eq!(error_locs(&body), vec![vec!["query", "streamer_id"]]);
    let (st, _) = s
        .post_empty(&format!("/api/streams/{id}/start?streamer_id=someone_else"))
        .await;
    assert_eq!(st, 403);
    let (st, _) = s
        .post_empty(&format!("/api/streams/{id}/end?streamer_id=streamer_123"))
        .await;
    assert_eq!(st, 409, "ending a scheduled stream is illegal");

    let (st, live) = s
        .post_empty(&format!("/api/streams/{id}/start?streamer_id=streamer_123"))
        .await;
    assert_eq!(st, 200, "{live}");
    assert_eq!(live["status"], "live");
    assert!(live["start_time"].is_string());
    let (st, again) = s
        .post_empty(&format!("/api/streams/{id}/start?streamer_id=streamer_123"))
        .await;
    assert_eq!(st, 409);
    assert!(again["detail"].as_str().unwrap().contains("already live"));

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (st, ended) = s
        .post_empty(&format!("/api/streams/{id}/end?streamer_id=streamer_123"))
        .await;
    assert_eq!(st, 200);
    assert_eq!(ended["status"], "ended");
    assert!(ended["end_time"].is_string());
    assert!(ended["duration"].as_i64().unwrap() >= 1, "{ended}");
    let (st, _) = s
        .post_empty(&format!("/api/streams/{id}/start?streamer_id=streamer_123"))
        .await;
    assert_eq!(st, 409, "an ended stream cannot go live again");

    // Key rotation by the owner gives a new key.
    let (st, rotated) = s
        .post_empty(&format!("/api/streams/{id}/key?streamer_id=streamer_123"))
        .await;
    assert_eq!(st, 200);
    assert_ne!(rotated["stream_key"].as_str().unwrap(), key);

    // Editing and deleting are the owner's.
    let r = s
        .http
        .patch(s.url(&format!("/api/streams/{id}?streamer_id=streamer_123")))
        .json(&json!({"title": "Renamed", "tags": ["x", " x ", "y", ""]}));
    let (st, edited) = s.send(r).await;
    assert_eq!(st, 200, "{edited}");
    assert_eq!(edited["title"], "Renamed");
    assert_eq!(edited["tags"], json!(["x", "y"]));
    let (st, _) = s
        .delete(&format!("/api/streams/{id}?streamer_id=intruder"))
        .await;
    assert_eq!(st, 403);
    let (st, _) = s
        .delete(&format!("/api/streams/{id}?streamer_id=streamer_123"))
        .await;
    assert_eq!(st, 204);
    let (st, gone) = s.get(&format!("/api/streams/{id}")).await;
    assert_eq!(st, 404);
    assert_eq!(gone["detail"], "Stream not found");
    s.stop().await;
}

async fn stream_listing_filters(backend: Backend) {
    let Some(s) = TestServer::start(backend, &[]).await else {
        return;
    };
    let a = s
        .create_stream(json!({"title": "A", "content_type": "gaming", "category": "Gaming"}))
        .await;
    let _b = s
        .create_stream(json!({"title": "B", "content_type": "education", "category": "Technology"}))
        .await;
    let c = s.create_stream(json!({"title": "C", "content_type": "gaming", "category": "Gaming", "streamer_id": "other"})).await;
    s.post_empty(&format!(
        "/api/streams/{}/start?streamer_id=streamer_123",
        a["id"].as_str().unwrap()
    ))
    .await;
    let titles = |v: &Value| -> Vec<String> {
        let mut t: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["title"].as_str().unwrap().to_string())
            .collect();
        t.sort();
        t
    };
    let (_, live) = s.get("/api/streams?status=live").await;
    assert_eq!(titles(&live), vec!["A"]);
    let (_, gaming) = s
        .get("/api/streams?content_type=gaming&category=Gaming&limit=50")
        .await;
    assert_eq!(titles(&gaming), vec!["A", "C"]);
    let (_, by) = s.get("/api/streams?streamer_id=other").await;
    assert_eq!(titles(&by), vec!["C"]);
    let (_, page) = s.get("/api/streams?limit=2").await;
    assert_eq!(page.as_array().unwrap().len(), 2);
    let (_, rest) = s.get("/api/streams?limit=2&offset=2").await;
    assert_eq!(rest.as_array().unwrap().len(), 1);
    assert!(live[0]["stream_key"].is_null(), "keys never listed");
    let _ = c;
    s.stop().await;
}

async fn invalid_input_names_the_field(backend: Backend) {
    let Some(s) = TestServer::start(backend, &[]).await else {
        return;
    };
    let raw = s
        .http
        .post(s.url("/api/streams"))
        .header("content-type", "application/json")
        .body("{\"title\": ");
    let (st, body) = s.send(raw).await;
    assert_eq!(st, 422);
    assert_eq!(body["detail"][0]["type"], "json_invalid");

    let cases = [
        (
            json!({"title": "x", "streamer_id": "s", "content_type": "cooking"}),
            vec!["body", "content_type"],
        ),
        (
            json!({"title": "x", "streamer_id": "s", "quality": "8K"}),
            vec!["body", "quality"],
        ),
        (
            json!({"title": "x", "streamer_id": "s", "max_viewers": 0}),
            vec!["body", "max_viewers"],
        ),
        (
            json!({"title": "x", "streamer_id": "s", "max_viewers": "many"}),
            vec!["body", "max_viewers"],
        ),
        (
            json!({"title": "", "streamer_id": "s"}),
            vec!["body", "title"],
        ),
        (json!({"streamer_id": "s"}), vec!["body", "title"]),
        (
            json!({"title": "x", "streamer_id": "s", "tags": "notalist"}),
            vec!["body", "tags"],
        ),
        (
            json!({"title": "x", "streamer_id": "s", "is_private": "perhaps"}),
            vec!["body", "is_private"],
        ),
    ];
    for (body, loc) in cases {
        let (st, resp) = s.post("/api/streams", body.clone()).await;
        assert_eq!(st, 422, "{body} -> {resp}");
        assert!(
            error_locs(&resp).contains(&loc.iter().map(|s| s.to_string()).collect()),
            "{body}: expected loc {loc:?} in {resp}"
        );
    }
    let (st, resp) = s.get("/api/streams?status=paused").await;
    assert_eq!(st, 422);
    assert_eq!(error_locs(&resp), vec![vec!["query", "status"]]);
    let (st, resp) = s.get("/api/streams?limit=0").await;
    assert_eq!(st, 422);
    assert_eq!(error_locs(&resp), vec![vec!["query", "limit"]]);
    let (st, resp) = s.get("/api/streams?limit=ten").await;
    assert_eq!(st, 422);
    assert_eq!(error_locs(&resp), vec![vec!["query", "limit"]]);

    for path in [
        "/api/streams/stream_nope",
        "/api/videos/video_nope",
        "/api/playlists/playlist_nope",
        "/api/streams/stream_nope/chat",
        "/api/users/user_nope",
    ] {
        let (st, body) = s.get(path).await;
        assert_eq!(st, 404, "{path}");
        assert!(
            body["detail"].as_str().unwrap().contains("not found"),
            "{body}"
        );
    }
    let (st, _) = s.get("/no/such/route").await;
    assert_eq!(st, 404);
    s.stop().await;
}

async fn private_streams_stay_private(backend: Backend) {
    let Some(s) = TestServer::start(backend, &[]).await else {
        return;
    };
    let public = s.create_stream(json!({"title": "Public"})).await;
    let private = s
        .create_stream(json!({"title": "Secret", "is_private": true, "password": "hunter22"}))
        .await;
    assert_eq!(private["is_private"], true);
    assert_eq!(private["password"], Value::Null);
    let pid = private["id"].as_str().unwrap();
    let (_, list) = s.get("/api/streams").await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![public["id"].as_str().unwrap()]);
    let (st, _) = s.get(&format!("/api/streams/{pid}")).await;
    assert_eq!(st, 404, "strangers cannot tell it exists");
    let (st, _) = s.get(&format!("/api/streams/{pid}?password=wrong")).await;
    assert_eq!(st, 404);
    let (st, got) = s
        .get(&format!("/api/streams/{pid}?password=hunter22"))
        .await;
    assert_eq!(st, 200);
    assert_eq!(got["title"], "Secret");
    assert!(
        got["stream_key"].is_null(),
        "the password does not reveal the key"
    );
    let r = s
        .http
        .get(s.url(&format!("/api/streams/{pid}/chat")))
        .header("x-stream-password", "hunter22");
    assert_eq!(s.send(r).await.0, 200);
    assert_eq!(s.get(&format!("/api/streams/{pid}/chat")).await.0, 404);
    let (st, _) = s
        .post(
            &format!("/api/streams/{pid}/chat"),
            json!({"username": "x", "message": "hi"}),
        )
        .await;
    assert_eq!(st, 404);
    s.stop().await;
}

async fn chat_history_limits_and_rate(backend: Backend) {
    let Some(s) = TestServer::start(
        backend,
        &[
            ("CHAT_HISTORY_LIMIT", "5"),
            ("CHAT_RATE_LIMIT", "6"),
            ("MAX_CHAT_MESSAGE_LENGTH", "20"),
        ],
    )
    .await
    else {
        return;
    };
    let stream = s.create_stream(json!({})).await;
    let id = stream["id"].as_str().unwrap();
    let chat = format!("/api/streams/{id}/chat");
    for i in 0..6 {
        let (st, msg) = s
            .post(
                &chat,
                json!({"username": "JohnDoe", "message": format!("hello {i} 👍"), "user_id": "user_123"}),
            )
            .await;
        assert_eq!(st, 201, "{msg}");
        assert!(msg["id"].as_str().unwrap().starts_with("msg_"));
        assert_eq!(msg["stream_id"], id);
        assert_eq!(msg["is_deleted"], false);
    }
    // The seventh in a minute is refused.
    let (st, body) = s
        .post(&chat, json!({"username": "JohnDoe", "message": "again"}))
        .await;
    assert_eq!(st, 429, "{body}");

    // History keeps the newest CHAT_HISTORY_LIMIT, oldest first.
    let (st, hist) = s.get(&format!("{chat}?limit=5")).await;
    assert_eq!(st, 200);
    let texts: Vec<&str> = hist
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        vec![
            "hello 1 👍",
            "hello 2 👍",
            "hello 3 👍",
            "hello 4 👍",
            "hello 5 👍"
        ]
    );
    let (_, two) = s.get(&format!("{chat}?limit=2")).await;
    assert_eq!(two.as_array().unwrap().len(), 2);
    assert_eq!(two[1]["message"], "hello 5 👍");
    let (st, _) = s.get(&format!("{chat}?limit=6")).await;
    assert_eq!(st, 422, "limit above CHAT_HISTORY_LIMIT");

    // Length is counted in characters, and the limit names the field.
    let (st, body) = s
        .post(&chat, json!({"username": "Ann", "message": "x".repeat(21)}))
        .await;
    assert_eq!(st, 422);
    assert_eq!(error_locs(&body), vec![vec!["body", "message"]]);
    let (st, body) = s
        .post(&chat, json!({"username": "Ann", "message": "   "}))
        .await;
    assert_eq!(st, 422, "{body}");
    let (st, body) = s.post(&chat, json!({"message": "no name"})).await;
    assert_eq!(st, 422);
    assert_eq!(error_locs(&body), vec![vec!["body", "username"]]);

    // An ended stream's chat is closed.
    s.post_empty(&format!("/api/streams/{id}/start?streamer_id=streamer_123"))
        .await;
    s.post_empty(&format!("/api/streams/{id}/end?streamer_id=streamer_123"))
        .await;
    let (st, _) = s
        .post(&chat, json!({"username": "Bob", "message": "late"}))
        .await;
    assert_eq!(st, 409);
    s.stop().await;
}

async fn upload(
    s: &TestServer,
    file: &std::path::Path,
    file_name: &str,
    fields: &[(&str, &str)],
) -> (u16, Value) {
    let bytes = std::fs::read(file).unwrap();
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string()),
    );
    s.send(s.http.post(s.url("/api/videos/upload")).multipart(form))
        .await
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn video_upload_and_metadata(backend: Backend) {
    let Some(s) = TestServer::start(backend, &[]).await else {
        return;
    };
    let src = make_video(s.data_dir(), "clip.mp4", 2);
    let (st, video) = upload(
        &s,
        &src,
        "../../../etc/awesome video.mp4",
        &[
            ("title", "My Awesome Video"),
            ("description", "Check it out"),
            ("uploader_id", "user_123"),
            ("category", "Entertainment"),
            ("tags", "funny, awesome,viral,"),
            ("is_public", "true"),
        ],
    )
    .await;
    assert_eq!(st, 201, "{video}");
    assert!(video["id"].as_str().unwrap().starts_with("video_"));
    assert_eq!(video["title"], "My Awesome Video");
    assert_eq!(video["format"], "MP4");
    assert_eq!(video["resolution"], "320x240");
    assert_eq!(video["tags"], json!(["funny", "awesome", "viral"]));
    assert_eq!(video["processing_status"], "pending");
    assert_eq!(video["is_processed"], false);
    assert_eq!(video["file_size"], std::fs::metadata(&src).unwrap().len());
    let duration = video["duration"].as_f64().unwrap();
    assert!((duration - 2.0).abs() < 0.2, "duration {duration}");
    assert!(video["bitrate"].as_i64().unwrap() > 0);
    // The stored file is inside the upload folder whatever the client called it.
    let path = video["file_path"].as_str().unwrap();
    let stored = std::path::Path::new(path);
    let uploads = s.data_dir().join("uploads/videos");
    assert_eq!(stored.parent().unwrap(), uploads, "{path}");
    assert!(
        stored
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("awesome_video.mp4")
    );
    assert_eq!(std::fs::read(stored).unwrap(), std::fs::read(&src).unwrap());

    let id = video["id"].as_str().unwrap();
    let (st, got) = s.get(&format!("/api/videos/{id}")).await;
    assert_eq!(st, 200);
    assert_eq!(got["id"], id);
    let (_, list) = s
        .get("/api/videos?category=Entertainment&uploader_id=user_123&is_public=true&limit=50")
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, none) = s.get("/api/videos?category=Education").await;
    assert!(none.as_array().unwrap().is_empty());

    // Other containers are recognised from their bytes.
    let webm = s.data_dir().join("clip.webm");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&src)
        .args([
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-t",
            "1",
            "-c:a",
            "libopus",
        ])
        .arg(&webm)
        .status()
        .unwrap();
    assert!(ok.success());
    let (st, v) = upload(
        &s,
        &webm,
        "clip.mp4",
        &[("title", "W"), ("uploader_id", "u")],
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["format"], "WEBM");
    assert!(v["file_path"].as_str().unwrap().ends_with("clip.mp4.webm"));

    // A private video is neither listed nor shown to strangers.
    let (st, hidden) = upload(
        &s,
        &src,
        "h.mp4",
        &[("uploader_id", "u"), ("is_public", "false")],
    )
    .await;
    assert_eq!(st, 201);
    assert_eq!(hidden["title"], "h", "title defaults to the file name");
    let (st, _) = s
        .get(&format!("/api/videos/{}", hidden["id"].as_str().unwrap()))
        .await;
    assert_eq!(st, 404);
    let (_, all) = s.get("/api/videos").await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (_, privates) = s.get("/api/videos?is_public=false").await;
    assert!(privates.as_array().unwrap().is_empty());
    s.stop().await;
}

async fn bad_uploads_lose_nothing(backend: Backend) {
    let Some(s) = TestServer::start(backend, &[("MAX_FILE_SIZE", "20000")]).await else {
        return;
    };
    let uploads = s.data_dir().join("uploads/videos");
    let text = s.data_dir().join("notes.mp4");
    std::fs::write(&text, "just some text, not a video at all\n".repeat(20)).unwrap();
    let (st, body) = upload(&s, &text, "notes.mp4", &[("uploader_id", "u")]).await;
    assert_eq!(st, 415, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("mp4") && detail.contains("webm"),
        "{detail}"
    );
    assert!(files_in(&uploads).is_empty(), "{:?}", files_in(&uploads));

    // Larger than MAX_FILE_SIZE: refused while streaming, partial file removed.
    let big = make_video(s.data_dir(), "big.mp4", 4);
    assert!(std::fs::metadata(&big).unwrap().len() > 20000);
    let form = reqwest::multipart::Form::new()
        .text("uploader_id", "u")
        .part(
            "file",
            reqwest::multipart::Part::bytes(std::fs::read(&big).unwrap()).file_name("big.mp4"),
        );
    if let Some((st, body)) = s
        .send_refused(s.http.post(s.url("/api/videos/upload")).multipart(form))
        .await
    {
        assert_eq!(st, 413, "{body}");
    }
    assert!(files_in(&uploads).is_empty(), "{:?}", files_in(&uploads));

    // A chunked body (no Content-Length) over the limit is cut off too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..40).map(|_| Ok(vec![0u8; 4096])).collect();
    let body_stream = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let form = reqwest::multipart::Form::new()
        .text("uploader_id", "u")
        .part(
            "file",
            reqwest::multipart::Part::stream(body_stream).file_name("x.mp4"),
        );
    if let Some((st, body)) = s
        .send_refused(s.http.post(s.url("/api/videos/upload")).multipart(form))
        .await
    {
        assert_eq!(st, 413, "{body}");
    }
    assert!(files_in(&uploads).is_empty());

    // No file at all, and not multipart at all.
    let form = reqwest::multipart::Form::new().text("title", "nothing");
    let (st, body) = s
        .send(s.http.post(s.url("/api/videos/upload")).multipart(form))
        .await;
    assert_eq!(st, 422);
    assert_eq!(error_locs(&body), vec![vec!["body", "file"]]);
    let (st, _) = s.post("/api/videos/upload", json!({"file": "x"})).await;
    assert_eq!(st, 422);

    // Right magic bytes, broken inside: ffprobe refuses it and nothing is kept.
    let mut fake = vec![0, 0, 0, 0x18];
    fake.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2");
    fake.extend(std::iter::repeat_n(0xAB, 3000));
    let broken = s.data_dir().join("broken.mp4");
    std::fs::write(&broken, fake).unwrap();
    let (st, body) = upload(&s, &broken, "broken.mp4", &[("uploader_id", "u")]).await;
    assert_eq!(st, 415, "{body}");
    assert!(files_in(&uploads).is_empty());
    let (_, list) = s.get("/api/videos").await;
    assert!(list.as_array().unwrap().is_empty());
    s.stop().await;
}

async fn video_reactions_and_views(backend: Backend) {
    let Some(s) = TestServer::start(backend, &[]).await else {
        return;
    };
    let src = make_video(s.data_dir(), "clip.mp4", 1);
    let (_, video) = upload(&s, &src, "clip.mp4", &[("uploader_id", "u")]).await;
    let id = video["id"].as_str().unwrap();
    let (st, v) = s.post_empty(&format!("/api/videos/{id}/like")).await;
    assert_eq!(st, 200);
    assert_eq!(
        (v["like_count"].as_i64(), v["dislike_count"].as_i64()),
        (Some(1), Some(0))
    );
    let (_, v) = s.post_empty(&format!("/api/videos/{id}/like")).await;
    assert_eq!(v["like_count"], 1, "one like per viewer");
    let (_, v) = s.post_empty(&format!("/api/videos/{id}/dislike")).await;
    assert_eq!(
        (v["like_count"].as_i64(), v["dislike_count"].as_i64()),
        (Some(0), Some(1))
    );
    let (st, _) = s.post_empty("/api/videos/video_missing/like").await;
    assert_eq!(st, 404);

    let (_, view) = s.post_empty(&format!("/api/videos/{id}/view")).await;
    assert_eq!(
        (view["view_count"].as_i64(), view["counted"].as_bool()),
        (Some(1), Some(true))
    );
    let (_, view) = s.post_empty(&format!("/api/videos/{id}/view")).await;
    assert_eq!(
        (view["view_count"].as_i64(), view["counted"].as_bool()),
        (Some(1), Some(false))
    );

    let r = s
        .http
        .patch(s.url(&format!("/api/videos/{id}?uploader_id=u")))
        .json(&json!({"title": "New title", "is_public": false}));
    let (st, v) = s.send(r).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["title"], "New title");
    let stored = v["file_path"].as_str().unwrap().to_string();
    let (st, _) = s.delete(&format!("/api/videos/{id}?uploader_id=u")).await;
    assert_eq!(st, 204);
    assert!(!std::path::Path::new(&stored).exists());
    s.stop().await;
}

async fn playlists(backend: Backend) {
    let Some(s) = TestServer::start(backend, &[]).await else {
        return;
    };
    let src = make_video(s.data_dir(), "clip.mp4", 1);
    let (_, v1) = upload(&s, &src, "a.mp4", &[("uploader_id", "user_123")]).await;
    let (_, v2) = upload(&s, &src, "b.mp4", &[("uploader_id", "user_123")]).await;
    let (id1, id2) = (v1["id"].as_str().unwrap(), v2["id"].as_str().unwrap());

    let (st, body) = s
        .post(
            "/api/playlists",
            json!({"name": "P", "creator_id": "user_123", "video_ids": [id1, "video_123", "video_456"]}),
        )
        .await;
    assert_eq!(st, 422);
    let locs = error_locs(&body);
    assert_eq!(
        locs,
        vec![
            vec!["body", "video_ids", "1"],
            vec!["body", "video_ids", "2"]
        ]
    );
    assert!(body.to_string().contains("video_123") && body.to_string().contains("video_456"));

    let (st, pl) = s
        .post(
            "/api/playlists",
            json!({"name": "My Favorite Videos", "description": "d", "creator_id": "user_123",
                   "video_ids": [id1], "is_public": "true"}),
        )
        .await;
    assert_eq!(st, 201, "{pl}");
    assert_eq!(pl["video_ids"], json!([id1]));
    assert_eq!(pl["is_public"], true);
    let pid = pl["id"].as_str().unwrap();
    let (st, pl) = s
        .post_empty(&format!("/api/playlists/{pid}/videos/{id2}"))
        .await;
    assert_eq!(st, 200, "{pl}");
    assert_eq!(pl["video_ids"], json!([id1, id2]));
    assert_eq!(pl["video_count"], 2);
    let (st, _) = s
        .post_empty(&format!("/api/playlists/{pid}/videos/video_nope"))
        .await;
    assert_eq!(st, 404);
    let (st, _) = s
        .post_empty(&format!(
            "/api/playlists/{pid}/videos/{id2}?creator_id=intruder"
        ))
        .await;
    assert_eq!(st, 403);

    // A video made private leaves the public playlist's listing for strangers, and whoever
    // followed its events while it was public is let go.
    let following = follow_video(&s, id2).await;
    let private = |is_public: bool| {
        s.http
            .patch(s.url(&format!("/api/videos/{id2}?uploader_id=user_123")))
            .json(&json!({ "is_public": is_public }))
    };
    assert_eq!(s.send(private(false)).await.0, 200);
    assert!(let_go(following).await, "the event stream was not closed");
    let (st, pl) = s.get(&format!("/api/playlists/{pid}")).await;
    assert_eq!(st, 200);
    assert_eq!(pl["video_ids"], json!([id1]), "{pl}");
    assert_eq!(pl["video_count"], 1);
    let (_, listed) = s.get("/api/playlists").await;
    assert!(!listed.to_string().contains(id2), "{listed}");
    assert_eq!(s.get(&format!("/api/videos/{id2}/events")).await.0, 404);
    assert_eq!(s.send(private(true)).await.0, 200);
    let (_, pl) = s.get(&format!("/api/playlists/{pid}")).await;
    assert_eq!(pl["video_ids"], json!([id1, id2]));

    s.post(
        "/api/playlists",
        json!({"name": "Hidden", "creator_id": "user_123", "is_public": false}),
    )
    .await;
    s.post(
        "/api/playlists",
        json!({"name": "Other", "creator_id": "someone"}),
    )
    .await;
    let (_, mine) = s
        .get("/api/playlists?creator_id=user_123&is_public=true&limit=50")
        .await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let (_, all) = s.get("/api/playlists").await;
    assert_eq!(all.as_array().unwrap().len(), 2, "private playlist hidden");

    // Whoever follows a video's events is let go when it is deleted.
    let following = follow_video(&s, id2).await;
    let (st, _) = s
        .delete(&format!("/api/videos/{id2}?uploader_id=user_123"))
        .await;
    assert_eq!(st, 204);
    assert!(let_go(following).await, "the event stream was not closed");
    s.stop().await;
}

/// Follows a video's events (Server-Sent Events) as a stranger.
async fn follow_video(s: &TestServer, id: &str) -> reqwest::Response {
    let following = s
        .http
        .get(s.url(&format!("/api/videos/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(following.status(), 200);
    following
}

/// Whether the server ended an event stream within a few seconds.
async fn let_go(following: reqwest::Response) -> bool {
    tokio::time::timeout(std::time::Duration::from_secs(5), following.text())
        .await
        .is_ok()
}

async fn stats_are_counted(backend: Backend) {
    let Some(s) = TestServer::start(backend, &[]).await else {
        return;
    };
    let a = s.create_stream(json!({})).await;
    s.create_stream(json!({})).await;
    let id = a["id"].as_str().unwrap();
    s.post_empty(&format!("/api/streams/{id}/start?streamer_id=streamer_123"))
        .await;
    s.post(
        &format!("/api/streams/{id}/chat"),
        json!({"username": "a", "message": "b"}),
    )
    .await;
    let src = make_video(s.data_dir(), "clip.mp4", 1);
    let (_, v) = upload(&s, &src, "a.mp4", &[("uploader_id", "u")]).await;
    s.post_empty(&format!("/api/videos/{}/view", v["id"].as_str().unwrap()))
        .await;
    let (st, stats) = s.get("/api/stats").await;
    assert_eq!(st, 200);
    assert_eq!(stats["total_streams"], 2);
    assert_eq!(stats["live_streams"], 1);
    assert_eq!(stats["scheduled_streams"], 1);
    assert_eq!(stats["total_videos"], 1);
    assert_eq!(stats["total_video_views"], 1);
    assert_eq!(stats["total_chat_messages"], 1);
    let (st, health) = s.get("/health").await;
    assert_eq!(st, 200);
    assert_eq!(health["database"], "ok");
    assert_eq!(health["ffprobe"], true);
    let (st, analytics) = s
        .get(&format!("/api/streams/{id}/analytics?hours=24"))
        .await;
    assert_eq!(st, 200);
    assert!(analytics.is_array());
    s.stop().await;
}

const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";

async fn register(s: &TestServer, name: &str, role: &str) -> (String, String) {
    let (st, body) = s
        .post(
            "/api/auth/register",
            json!({"username": name, "password": "correct horse", "email": format!("{name}@example.com"), "role": role}),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["user"]["id"].as_str().unwrap().to_string(),
    )
}

async fn accounts_and_production_mode(backend: Backend) {
    let Some(s) = TestServer::start(
        backend,
        &[("ENVIRONMENT", "production"), ("JWT_SECRET", SECRET)],
    )
    .await
    else {
        return;
    };
    let (admin_token, _) = register(&s, "root", "viewer").await;
    let (viewer_token, viewer_id) = register(&s, "watcher", "viewer").await;
    let (streamer_token, streamer_id) = register(&s, "caster", "streamer").await;

    let (st, me) = s
        .send(s.http.get(s.url("/api/auth/me")).bearer_auth(&admin_token))
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        me["role"], "admin",
        "the first account administers the server"
    );
    let (st, _) = s
        .post(
            "/api/auth/register",
            json!({"username": "caster", "password": "another one"}),
        )
        .await;
    assert_eq!(st, 409);
    let (st, body) = s
        .post(
            "/api/auth/register",
            json!({"username": "x", "password": "short"}),
        )
        .await;
    assert_eq!(st, 422);
    assert_eq!(
        error_locs(&body),
        vec![vec!["body", "username"], vec!["body", "password"]]
    );
    let (st, login) = s
        .post(
            "/api/auth/login",
            json!({"username": "caster@example.com", "password": "correct horse"}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(login["token_type"], "bearer");
    let (st, _) = s
        .post(
            "/api/auth/login",
            json!({"username": "caster", "password": "wrong password"}),
        )
        .await;
    assert_eq!(st, 401);
    let (st, _) = s
        .send(s.http.get(s.url("/api/auth/me")).bearer_auth("not.a.token"))
        .await;
    assert_eq!(st, 401);

    // Writes need a token; the id comes from it.
    let body = json!({"title": "Prod stream", "streamer_id": "streamer_123"});
    let (st, _) = s.post("/api/streams", body.clone()).await;
    assert_eq!(st, 401);
    let (st, _) = s
        .send(
            s.http
                .post(s.url("/api/streams"))
                .bearer_auth(&viewer_token)
                .json(&json!({"title": "t"})),
        )
        .await;
    assert_eq!(st, 403, "viewers do not broadcast");
    let (st, _) = s
        .send(
            s.http
                .post(s.url("/api/streams"))
                .bearer_auth(&streamer_token)
                .json(&body),
        )
        .await;
    assert_eq!(st, 403, "a different streamer_id than the token's");
    let (st, stream) = s
        .send(
            s.http
                .post(s.url("/api/streams"))
                .bearer_auth(&streamer_token)
                .json(&json!({"title": "t"})),
        )
        .await;
    assert_eq!(st, 201, "{stream}");
    assert_eq!(stream["streamer_id"], streamer_id);
    let id = stream["id"].as_str().unwrap();
    let (_, seen) = s
        .send(
            s.http
                .get(s.url(&format!("/api/streams/{id}")))
                .bearer_auth(&streamer_token),
        )
        .await;
    assert_eq!(
        seen["stream_key"], stream["stream_key"],
        "the owner sees the key"
    );
    let (_, seen) = s
        .send(
            s.http
                .get(s.url(&format!("/api/streams/{id}")))
                .bearer_auth(&viewer_token),
        )
        .await;
    assert!(seen["stream_key"].is_null());
    let (st, _) = s
        .send(
            s.http
                .post(s.url(&format!("/api/streams/{id}/start")))
                .bearer_auth(&viewer_token),
        )
        .await;
    assert_eq!(st, 403);
    let (st, live) = s
        .send(
            s.http
                .post(s.url(&format!("/api/streams/{id}/start")))
                .bearer_auth(&streamer_token),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(live["status"], "live");

    // Chat takes the name from the account.
    let (st, _) = s
        .post(
            &format!("/api/streams/{id}/chat"),
            json!({"username": "anon", "message": "hi"}),
        )
        .await;
    assert_eq!(st, 401);
    let (st, msg) = s
        .send(
            s.http
                .post(s.url(&format!("/api/streams/{id}/chat")))
                .bearer_auth(&viewer_token)
                .json(&json!({"username": "fake", "message": "hi"})),
        )
        .await;
    assert_eq!(st, 201);
    assert_eq!(msg["username"], "watcher");
    assert_eq!(msg["user_id"], viewer_id);
    // Only moderators, admins and the streamer delete messages.
    let del = format!("/api/streams/{id}/chat/{}", msg["id"].as_str().unwrap());
    let (st, _) = s
        .send(s.http.delete(s.url(&del)).bearer_auth(&viewer_token))
        .await;
    assert_eq!(st, 403);
    let (st, _) = s
        .send(s.http.delete(s.url(&del)).bearer_auth(&streamer_token))
        .await;
    assert_eq!(st, 204);
    let (_, hist) = s.get(&format!("/api/streams/{id}/chat")).await;
    assert!(hist.as_array().unwrap().is_empty());

    // Roles are the admin's to give.
    let role = format!("/api/users/{viewer_id}/role");
    let (st, _) = s
        .send(
            s.http
                .put(s.url(&role))
                .bearer_auth(&streamer_token)
                .json(&json!({"role": "moderator"})),
        )
        .await;
    assert_eq!(st, 403);
    let (st, u) = s
        .send(
            s.http
                .put(s.url(&role))
                .bearer_auth(&admin_token)
                .json(&json!({"role": "moderator"})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(u["role"], "moderator");

    // Uploads need a token too, checked before the body is read.
    let form = reqwest::multipart::Form::new().text("title", "t");
    let (st, _) = s
        .send(s.http.post(s.url("/api/videos/upload")).multipart(form))
        .await;
    assert_eq!(st, 401);
    s.stop().await;
}

#[tokio::test]
async fn cors_follows_allowed_origins() {
    let s = TestServer::start(
        Backend::Sqlite,
        &[("ALLOWED_ORIGINS", "https://app.example.com")],
    )
    .await
    .unwrap();
    let preflight = |origin: &'static str| {
        s.http
            .request(reqwest::Method::OPTIONS, s.url("/api/streams"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        ok.headers().get("access-control-allow-origin").unwrap(),
        "https://app.example.com"
    );
    let no = preflight("https://evil.example.com").await.unwrap();
    assert!(no.headers().get("access-control-allow-origin").is_none());
    same_cors_on_hls_media_as_on_the_api(&s, "https://app.example.com", true).await;
    same_cors_on_hls_media_as_on_the_api(&s, "https://evil.example.com", false).await;
    s.stop().await;

    let any = TestServer::start(Backend::Sqlite, &[]).await.unwrap();
    same_cors_on_hls_media_as_on_the_api(&any, "https://anywhere.example.com", true).await;
    any.stop().await;
}

#[tokio::test]
async fn live_media_paths_answer_get_and_head_only() {
    let s = TestServer::start(Backend::Sqlite, &[]).await.unwrap();
    let url = s.url("/hls/stream_nowhere/index.m3u8");
    let post = s.http.post(&url).send().await.unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET,HEAD");
    let head = s.http.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 404);
    // A preflight still gets the CORS layer's answer.
    let preflight = s
        .http
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://player.example.com")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert!(
        preflight.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("GET")
    );
    s.stop().await;
}

/// Live HLS media are answered before the API's router and its CORS layer (see front.rs), so
/// they must carry the same cross-origin headers as an API response to the same origin.
async fn same_cors_on_hls_media_as_on_the_api(s: &TestServer, origin: &str, allowed: bool) {
    let cors = |path: &'static str| async move {
        let r = s
            .http
            .get(s.url(path))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        let h = r.headers();
        let names = [
            "access-control-allow-origin",
            "access-control-expose-headers",
            "vary",
        ];
        names.map(|n| {
            h.get_all(n)
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
    };
    let api = cors("/api/streams").await;
    let media = cors("/hls/stream_nowhere/index.m3u8").await;
    assert_eq!(api[0].is_empty(), !allowed, "{origin}: {api:?}");
    assert!(api[1][0].contains("content-range"), "{api:?}");
    assert_eq!(media, api, "{origin}");
}

#[tokio::test]
async fn every_documented_route_exists() {
    let s = TestServer::start(Backend::Sqlite, &[]).await.unwrap();
    let (st, doc) = s.get("/openapi.json").await;
    assert_eq!(st, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 25);
    for (path, ops) in paths {
        // Every `{param}` (also inside a segment, as in `{stream_id}.m3u8`) becomes a placeholder.
        let mut concrete = String::new();
        let mut rest = path.as_str();
        while let Some(open) = rest.find('{') {
            concrete.push_str(&rest[..open]);
            concrete.push_str("x_unknown");
            let close = rest[open..].find('}').unwrap() + open;
            rest = &rest[close + 1..];
        }
        concrete.push_str(rest);
        for method in ops.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = s.http.request(m, s.url(&concrete)).send().await.unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert!(
                !(status == 404 && body.contains("\"Not Found\"")),
                "{method} {path} is documented but not routed"
            );
        }
    }
    s.stop().await;
}
