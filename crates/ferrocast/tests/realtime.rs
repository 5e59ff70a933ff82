//! The WebSocket at `/ws/{stream_id}`, driven by a real WebSocket client over a real port.

mod common;

use std::time::Duration;

use common::{Backend, TestServer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(s: &TestServer, stream_id: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(s.ws_url(&format!("/ws/{stream_id}")))
        .await
        .expect("websocket connects");
    ws
}

/// The next JSON event of the given type, skipping others; fails after a few seconds.
async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let msg = timeout(deadline - tokio::time::Instant::now(), ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} event within 5 s"))
            .expect("socket open")
            .expect("frame");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == kind {
                return v;
            }
        }
    }
}

async fn send_json(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

on_both_databases!(events_reach_viewers);

async fn events_reach_viewers(backend: Backend) {
    let Some(s) = TestServer::start(backend, &[]).await else {
        return;
    };
    let stream = s.create_stream(json!({})).await;
    let id = stream["id"].as_str().unwrap();
    let mut a = connect(&s, id).await;
    let mut b = connect(&s, id).await;
    let first = next_of(&mut a, "viewer_count_update").await;
    assert!(first["viewer_count"].as_i64().unwrap() >= 1);
    assert!(first["timestamp"].is_string());

    send_json(&mut a, json!({"type": "ping"})).await;
    next_of(&mut a, "pong").await;

    // REST producers publish to the same channel.
    s.post_empty(&format!("/api/streams/{id}/start?streamer_id=streamer_123"))
        .await;
    let started = next_of(&mut b, "stream_started").await;
    assert_eq!(started["stream"]["id"], id);
    assert_eq!(started["stream"]["status"], "live");
    assert!(
        started["stream"]["stream_key"].is_null(),
        "events never carry the key"
    );
    assert!(started["timestamp"].is_string());
    let (st, _) = s
        .post(
            &format!("/api/streams/{id}/chat"),
            json!({"username": "JohnDoe", "message": "Great stream! 👍", "user_id": "user_123"}),
        )
        .await;
    assert_eq!(st, 201);
    let chat = next_of(&mut a, "chat_message").await;
    assert_eq!(chat["message"]["username"], "JohnDoe");
    assert_eq!(chat["message"]["message"], "Great stream! 👍");
    assert!(chat["message"]["id"].as_str().unwrap().starts_with("msg_"));
    assert!(chat["message"]["timestamp"].is_string());
    next_of(&mut b, "chat_message").await;

    // Chat sent over the socket, as the seed's StreamViewer does, reaches everyone and is kept.
    send_json(
        &mut b,
        json!({"type": "chat_message", "username": "Ann", "message": "from ws", "user_id": null}),
    )
    .await;
    let echoed = next_of(&mut a, "chat_message").await;
    assert_eq!(echoed["message"]["message"], "from ws");
    let (_, hist) = s.get(&format!("/api/streams/{id}/chat")).await;
    assert_eq!(hist.as_array().unwrap().len(), 2);

    send_json(&mut a, json!({"type": "quality_change", "quality": "720p"})).await;
    let q = next_of(&mut a, "quality_change").await;
    assert_eq!(q["quality"], "720p");
    send_json(&mut a, json!({"type": "quality_change", "quality": "8K"})).await;
    let err = next_of(&mut a, "error").await;
    assert!(err["detail"].as_str().unwrap().contains("720p"));
    send_json(
        &mut a,
        json!({"type": "chat_message", "username": "Ann", "message": ""}),
    )
    .await;
    let err = next_of(&mut a, "error").await;
    assert!(err["detail"].as_str().unwrap().contains("message"), "{err}");
    a.send(Message::Text("not json".into())).await.unwrap();
    next_of(&mut a, "error").await;

    // Live streams count their viewers.
    let (_, got) = s.get(&format!("/api/streams/{id}")).await;
    assert_eq!(got["viewer_count"], 2);

    s.post_empty(&format!("/api/streams/{id}/end?streamer_id=streamer_123"))
        .await;
    let ended = next_of(&mut a, "stream_ended").await;
    assert_eq!(ended["stream"]["status"], "ended");
    assert!(ended["stream"]["duration"].is_i64());
    s.stop().await;
}

#[tokio::test]
async fn unknown_and_private_streams_are_refused() {
    let s = TestServer::start(Backend::Sqlite, &[]).await.unwrap();
    let err = tokio_tungstenite::connect_async(s.ws_url("/ws/stream_nope"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    let private = s
        .create_stream(json!({"is_private": true, "password": "letmein"}))
        .await;
    let id = private["id"].as_str().unwrap();
    let err = tokio_tungstenite::connect_async(s.ws_url(&format!("/ws/{id}")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    let (mut ws, _) =
        tokio_tungstenite::connect_async(s.ws_url(&format!("/ws/{id}?password=letmein")))
            .await
            .expect("the password opens it");
    next_of(&mut ws, "viewer_count_update").await;
    // A browser cannot set headers on a WebSocket: the token may ride in the query instead.
    let (st, reg) = s
        .post(
            "/api/auth/register",
            json!({"username": "boss", "password": "long enough"}),
        )
        .await;
    assert_eq!(st, 201);
    let token = reg["access_token"].as_str().unwrap();
    let (mut ws, _) =
        tokio_tungstenite::connect_async(s.ws_url(&format!("/ws/{id}?token={token}")))
            .await
            .expect("the admin's token opens it");
    next_of(&mut ws, "viewer_count_update").await;
    let err = tokio_tungstenite::connect_async(s.ws_url(&format!("/ws/{id}?token=forged")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    s.stop().await;
}

#[tokio::test]
async fn listeners_let_in_while_public_are_closed_when_the_stream_turns_private() {
    let s = TestServer::start(Backend::Sqlite, &[]).await.unwrap();
    let (id, mut ws, mut sse) = listened_to(&s).await;
    let id = id.as_str();

    let (st, _) = s
        .send(
            s.http
                .patch(s.url(&format!("/api/streams/{id}?streamer_id=streamer_123")))
                .json(&json!({"is_private": true, "password": "letmein"})),
        )
        .await;
    assert_eq!(st, 200);
    // Chat said after the change must not reach them: both are closed instead.
    s.post(
        &format!("/api/streams/{id}/chat?password=letmein"),
        json!({"username": "Eve", "message": "for members only"}),
    )
    .await;
    let (code, said) = until_closed(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(!said.contains("members only"), "{said}");
    let seen = until_ended(&mut sse).await;
    assert!(!seen.contains("members only"), "{seen}");

    // Coming back, the new rule applies.
    let err = tokio_tungstenite::connect_async(s.ws_url(&format!("/ws/{id}")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    assert_eq!(s.get(&format!("/api/streams/{id}/events")).await.0, 404);
    let (mut ws, _) =
        tokio_tungstenite::connect_async(s.ws_url(&format!("/ws/{id}?password=letmein")))
            .await
            .expect("the password opens it");
    next_of(&mut ws, "viewer_count_update").await;
    s.stop().await;
}

#[tokio::test]
async fn listeners_are_closed_when_the_stream_is_deleted() {
    let s = TestServer::start(Backend::Sqlite, &[]).await.unwrap();
    let (id, mut ws, mut sse) = listened_to(&s).await;
    let id = id.as_str();

    let (st, _) = s
        .delete(&format!("/api/streams/{id}?streamer_id=streamer_123"))
        .await;
    assert_eq!(st, 204);
    assert_eq!(until_closed(&mut ws).await.0, 1008);
    until_ended(&mut sse).await;
    // Coming back finds nothing.
    let err = tokio_tungstenite::connect_async(s.ws_url(&format!("/ws/{id}")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    s.stop().await;
}

#[tokio::test]
async fn connection_limit_per_stream() {
    let s = TestServer::start(
        Backend::Sqlite,
        &[("MAX_WEBSOCKET_CONNECTIONS_PER_STREAM", "2")],
    )
    .await
    .unwrap();
    let stream = s.create_stream(json!({})).await;
    let id = stream["id"].as_str().unwrap();
    let _a = connect(&s, id).await;
    let b = connect(&s, id).await;
    let err = tokio_tungstenite::connect_async(s.ws_url(&format!("/ws/{id}")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    drop(b);
    // The freed place can be taken again once the server notices the close.
    let mut ok = false;
    for _ in 0..50 {
        if tokio_tungstenite::connect_async(s.ws_url(&format!("/ws/{id}")))
            .await
            .is_ok()
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "a closed connection frees its place");
    s.stop().await;
}

#[tokio::test]
async fn silent_clients_are_dropped_after_ping_timeout() {
    let s = TestServer::start(
        Backend::Sqlite,
        &[
            ("WEBSOCKET_HEARTBEAT_INTERVAL", "1"),
            ("WEBSOCKET_PING_TIMEOUT", "1"),
        ],
    )
    .await
    .unwrap();
    let stream = s.create_stream(json!({})).await;
    let id = stream["id"].as_str().unwrap();
    // A raw TCP client that completes the upgrade and then never reads or answers.
    let mut raw = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    raw.write_all(
        format!(
            "GET /ws/{id} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = [0u8; 1024];
    let n = raw.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("101"));
    // An answering client stays connected meanwhile.
    let mut good = connect(&s, id).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    let mut silent_gone = false;
    while tokio::time::Instant::now() < deadline {
        // tungstenite answers pings automatically while we read.
        let _ = timeout(Duration::from_millis(200), good.next()).await;
        let (_, stats) = s.get("/api/stats").await;
        if stats["websocket_connections"] == 1 {
            silent_gone = true;
            break;
        }
    }
    assert!(silent_gone, "the silent client was not dropped");
    send_json(&mut good, json!({"type": "ping"})).await;
    next_of(&mut good, "pong").await;
    s.stop().await;
}

/// One client that never reads must not slow the others: the fast one gets every event in
/// order while the stalled one is cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_block_others() {
    let s = TestServer::start(
        Backend::Sqlite,
        &[
            ("WEBSOCKET_MESSAGE_QUEUE_SIZE", "32"),
            ("MAX_CHAT_MESSAGE_LENGTH", "60000"),
            ("CHAT_RATE_LIMIT", "0"),
            ("WEBSOCKET_PING_TIMEOUT", "5"),
        ],
    )
    .await
    .unwrap();
    let stream = s.create_stream(json!({})).await;
    let id = stream["id"].as_str().unwrap().to_string();
    let stalled = connect(&s, &id).await; // never read from
    let mut fast = connect(&s, &id).await;
    next_of(&mut fast, "viewer_count_update").await;

    const N: usize = 400;
    let big = "x".repeat(50_000);
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while seen.len() < N {
            let v = next_of(&mut fast, "chat_message").await;
            seen.push(v["message"]["username"].as_str().unwrap().to_string());
        }
        (seen, fast)
    });
    for i in 0..N {
        let (st, body) = s
            .post(
                &format!("/api/streams/{id}/chat"),
                json!({"username": format!("u{i}"), "message": big}),
            )
            .await;
        assert_eq!(st, 201, "{body}");
    }
    let (seen, mut fast) = timeout(Duration::from_secs(30), reader)
        .await
        .expect("the fast client kept up")
        .unwrap();
    let expected: Vec<String> = (0..N).map(|i| format!("u{i}")).collect();
    assert_eq!(seen, expected);
    // 20 MB were sent; the stalled client could not have taken them, so it was dropped while
    // the fast one is still connected and answering.
    let mut dropped = false;
    for _ in 0..200 {
        let (_, stats) = s.get("/api/stats").await;
        if stats["websocket_connections"] == 1 {
            dropped = true;
            break;
        }
        let _ = timeout(Duration::from_millis(100), fast.next()).await;
    }
    assert!(dropped, "the stalled client still holds its place");
    send_json(&mut fast, json!({"type": "ping"})).await;
    next_of(&mut fast, "pong").await;
    drop(stalled);
    s.stop().await;
}

/// Reads a WebSocket until the server closes it (within a few seconds); returns the close code
/// and the text of the messages before it.
async fn until_closed(ws: &mut Ws) -> (u16, String) {
    let mut said = String::new();
    loop {
        let msg = timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("the socket is closed at once")
            .expect("a close frame, not a dropped connection")
            .expect("frame");
        match msg {
            Message::Close(frame) => return (u16::from(frame.expect("a close code").code), said),
            Message::Text(t) => said.push_str(t.as_str()),
            _ => {}
        }
    }
}

/// Reads a Server-Sent Events body until the server ends it (within a few seconds); returns it.
async fn until_ended(
    body: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
) -> String {
    let mut seen = String::new();
    while let Some(chunk) = timeout(Duration::from_secs(5), body.next())
        .await
        .expect("the event stream ends at once")
    {
        seen.push_str(std::str::from_utf8(&chunk.expect("the event stream ends cleanly")).unwrap());
    }
    seen
}

/// A new public stream with a WebSocket viewer (already counted) and a Server-Sent Events
/// listener on it.
async fn listened_to(
    s: &TestServer,
) -> (
    String,
    Ws,
    impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin + use<>,
) {
    let stream = s.create_stream(json!({})).await;
    let id = stream["id"].as_str().unwrap().to_string();
    let mut ws = connect(s, &id).await;
    next_of(&mut ws, "viewer_count_update").await;
    let sse = listen(s, &format!("/api/streams/{id}/events")).await;
    (id, ws, sse)
}

/// Opens a Server-Sent Events channel; returns its body as it arrives.
async fn listen(
    s: &TestServer,
    path: &str,
) -> impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin + use<> {
    let resp = s.http.get(s.url(path)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    resp.bytes_stream()
}

/// Reads an SSE body until an event with the given name arrives; returns its data as JSON.
async fn next_sse(
    body: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buf: &mut String,
    name: &str,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut event = "message";
            let mut data = String::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = e;
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            if event == name {
                return serde_json::from_str(&data).unwrap();
            }
        }
        let chunk = timeout(deadline - tokio::time::Instant::now(), body.next())
            .await
            .unwrap_or_else(|_| panic!("no {name} event within 5 s"))
            .expect("stream open")
            .expect("chunk");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

on_both_databases!(server_sent_events_carry_the_channel);

async fn server_sent_events_carry_the_channel(backend: Backend) {
    let Some(s) = TestServer::start(backend, &[]).await else {
        return;
    };
    let stream = s.create_stream(json!({})).await;
    let id = stream["id"].as_str().unwrap();
    let mut body = listen(&s, &format!("/api/streams/{id}/events")).await;
    let mut buf = String::new();
    // The handler subscribed before it answered, so nothing published from now on is missed.
    s.post_empty(&format!("/api/streams/{id}/start?streamer_id=streamer_123"))
        .await;
    let started = next_sse(&mut body, &mut buf, "stream_started").await;
    assert_eq!(started["stream"]["id"], id);
    s.post(
        &format!("/api/streams/{id}/chat"),
        json!({"username": "Eve", "message": "over SSE"}),
    )
    .await;
    let chat = next_sse(&mut body, &mut buf, "chat_message").await;
    assert_eq!(chat["message"]["message"], "over SSE");

    assert_eq!(s.get("/api/streams/stream_nope/events").await.0, 404);
    assert_eq!(s.get("/api/videos/video_nope/events").await.0, 404);
    s.stop().await;
}

/// A client that plays the stream as well (the web app's page) is counted by its playback session;
/// its socket says so with `counted=false` and takes no second place in `viewer_count`.
#[tokio::test]
async fn a_socket_beside_a_player_is_not_counted_twice() {
    let Some(s) = TestServer::start(Backend::Sqlite, &[("VIEWER_UPDATE_INTERVAL", "1")]).await
    else {
        return;
    };
    let stream = s.create_stream(json!({})).await;
    let id = stream["id"].as_str().unwrap();
    let counted = connect(&s, id).await;
    let (mut page, _) =
        tokio_tungstenite::connect_async(s.ws_url(&format!("/ws/{id}?counted=false")))
            .await
            .expect("websocket connects");
    let update = next_of(&mut page, "viewer_count_update").await;
    assert_eq!(update["viewer_count"], 1, "{update}");
    drop(counted);
    // The periodic update follows the counted viewer leaving; the page stays uncounted.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let update = next_of(&mut page, "viewer_count_update").await;
        if update["viewer_count"] == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the count never fell to 0: {update}"
        );
    }
    s.stop().await;
}
