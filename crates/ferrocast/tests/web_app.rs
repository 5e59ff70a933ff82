//! The web app as people use it: real headless Chromium against a real server, driven by roles
//! and accessible names (tests/browser/web_app.mjs), with what the pages did checked through the
//! API afterwards; and, without a browser, how the server serves the app (headers, precompressed
//! assets, the app's routes beside the API's, the JavaScript budget, cookie sessions).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Backend, TestServer, make_video, publish};
use serde_json::{Value, json};

const PASSWORD: &str = "correct-horse-battery";

/// One browser scenario at a time. The suite's machines have two cores: live ingest, transcoding
/// and Chromium from several scenarios at once starve each other into timeouts.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn dist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/dist")
}

struct Account {
    id: String,
    username: String,
    token: String,
}

impl Account {
    fn credentials(&self) -> Value {
        json!({"username": self.username, "password": PASSWORD})
    }
}

async fn register(s: &TestServer, username: &str, role: &str) -> Account {
    let (st, body) = s
        .post(
            "/api/auth/register",
            json!({"username": username, "password": PASSWORD, "role": role}),
        )
        .await;
    assert_eq!(st, 201, "register {username}: {body}");
    Account {
        id: body["user"]["id"].as_str().unwrap().to_string(),
        username: username.to_string(),
        token: body["access_token"].as_str().unwrap().to_string(),
    }
}

/// A stream created by `owner` with a bearer token, so it is theirs whatever the mode.
async fn create_stream(s: &TestServer, owner: &Account, body: Value) -> Value {
    let (st, stream) = s
        .send(
            s.http
                .post(s.url("/api/streams"))
                .bearer_auth(&owner.token)
                .json(&body),
        )
        .await;
    assert_eq!(st, 201, "create stream: {stream}");
    assert_eq!(stream["streamer_id"], owner.id.as_str(), "{stream}");
    stream
}

/// Publishes to `stream` with ffmpeg and waits (bounded) until it is live with a playable
/// playlist. Kill the child when done.
async fn go_live(s: &TestServer, stream: &Value, password: Option<&str>) -> std::process::Child {
    let ffmpeg = publish(stream["rtmp_url"].as_str().unwrap(), 300);
    let id = stream["id"].as_str().unwrap();
    let with_password = |req: reqwest::RequestBuilder| match password {
        Some(p) => req.header("x-stream-password", p),
        None => req,
    };
    for _ in 0..200 {
        let playable = with_password(s.http.get(s.url(&format!("/hls/{id}.m3u8"))))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        let (_, now) = s
            .send(with_password(
                s.http.get(s.url(&format!("/api/streams/{id}"))),
            ))
            .await;
        if playable && now["status"] == "live" {
            return ffmpeg;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop(ffmpeg);
    panic!("stream {id} never became live and playable");
}

fn stop(mut child: std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs one scenario of web_app.mjs against `s` and returns its report, after checking what
/// every scenario must hold: it ran to its end, no script error escaped on any page, the
/// content security policy refused nothing the app itself does, and axe found no serious or
/// critical violation on any page it checked.
async fn run_scenario(s: &TestServer, scenario: &str, args: Value) -> Value {
    run_cued_scenario(s, scenario, args, async |cue: &str| -> Value {
        panic!("{scenario} gave the cue {cue:?}, which this test does not answer")
    })
    .await
}

/// As `run_scenario`, for a scenario that stops at cues (`{"cue": NAME}` lines) for the test to
/// act (publish, end a stream) before it goes on: `on_cue` acts, and what it returns is the
/// scenario's answer.
async fn run_cued_scenario(
    s: &TestServer,
    scenario: &str,
    args: Value,
    mut on_cue: impl AsyncFnMut(&str) -> Value,
) -> Value {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

    let dir = browser_dir();
    for module in ["playwright-core", "axe-core", "hls.js"] {
        assert!(
            dir.join("node_modules").join(module).exists(),
            "run `npm ci --prefix {}` first (scripts/install-test-deps.sh does)",
            dir.display()
        );
    }
    let shots = s.data_dir().join("screenshots");
    let tmp = s.data_dir().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut node = tokio::process::Command::new("node")
        .arg(dir.join("web_app.mjs"))
        .arg(scenario)
        .arg(&s.base)
        .env("WEB_APP_ARGS", args.to_string())
        .env("SCREENSHOT_DIR", &shots)
        .env("TMPDIR", &tmp)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node must be installed for the browser tests");
    let mut answers = node.stdin.take().unwrap();
    let mut lines = tokio::io::BufReader::new(node.stdout.take().unwrap()).lines();
    let mut errors = node.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = errors.read_to_string(&mut text).await;
        text
    });
    let mut stdout = Vec::new();
    let conversation = async {
        while let Some(line) = lines.next_line().await.expect("node's stdout") {
            let cue = serde_json::from_str::<Value>(&line)
                .ok()
                .and_then(|v| v["cue"].as_str().map(str::to_string));
            stdout.push(line);
            if let Some(cue) = cue {
                let answer = on_cue(&cue).await;
                // A scenario that already gave up no longer reads its answers.
                let _ = answers.write_all(format!("{answer}\n").as_bytes()).await;
                let _ = answers.flush().await;
            }
        }
        node.wait().await
    };
    // The script bounds itself; this is the backstop should Node itself hang.
    tokio::time::timeout(Duration::from_secs(600), conversation)
        .await
        .unwrap_or_else(|_| panic!("{scenario}: the browser script never finished"))
        .expect("node ran");
    // A browser process left behind could hold the pipe open after Node is gone.
    let stderr = tokio::time::timeout(Duration::from_secs(10), stderr)
        .await
        .map(|text| text.unwrap_or_default())
        .unwrap_or_else(|_| "(stderr still open)".to_string());
    let report: Value = stdout
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "{scenario}: no report.\nstdout: {}\nstderr: {stderr}",
                stdout.join("\n")
            )
        });
    keep_screenshots(&shots);
    assert_eq!(
        report["ok"], true,
        "{scenario} failed: {report:#}\nstderr: {stderr}"
    );
    assert_eq!(
        report["page_errors"],
        json!([]),
        "script errors: {report:#}"
    );
    assert_eq!(
        report["csp_violations"],
        json!([]),
        "the app's own CSP refused something: {report:#}"
    );
    let a11y = report["a11y"].as_object().expect("an a11y section");
    assert!(!a11y.is_empty(), "axe checked no page: {report:#}");
    let failing: Vec<_> = a11y
        .iter()
        .filter(|(_, v)| v.as_array().is_some_and(|l| !l.is_empty()))
        .collect();
    assert!(
        failing.is_empty(),
        "serious or critical accessibility violations: {failing:#?}"
    );
    for (page, passed) in report["axe_rules_passed"].as_object().unwrap() {
        assert!(
            passed.as_u64().unwrap_or(0) >= 10,
            "axe hardly looked at {page}: {report:#}"
        );
    }
    eprintln!("{scenario}: {}", report);
    report
}

/// `FERROCAST_KEEP_SCREENSHOTS=DIR` keeps the scenarios' screenshots (the temporary data folder
/// goes with the server).
fn keep_screenshots(shots: &Path) {
    let Ok(keep) = std::env::var("FERROCAST_KEEP_SCREENSHOTS") else {
        return;
    };
    let _ = std::fs::create_dir_all(&keep);
    for entry in std::fs::read_dir(shots).into_iter().flatten().flatten() {
        let _ = std::fs::copy(entry.path(), Path::new(&keep).join(entry.file_name()));
    }
}

fn playback_advanced(report: &Value) -> f64 {
    report["playback"]["advanced"].as_f64().unwrap_or(0.0)
}

async fn live_server() -> TestServer {
    // The source alone is enough to watch; a transcoding ladder would only compete with Chromium
    // for the CPU.
    TestServer::start(
        Backend::Sqlite,
        &[
            ("HLS_SEGMENT_DURATION_MS", "1000"),
            ("ENABLE_TRANSCODING", "false"),
        ],
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_is_listed_on_the_home_page_and_plays() {
    let _one = BROWSER.lock().await;
    let s = live_server().await;
    let _admin = register(&s, "host", "streamer").await;
    let caster = register(&s, "caster", "streamer").await;
    let title = "Speedrun night";
    let stream = create_stream(&s, &caster, json!({"title": title, "category": "Gaming"})).await;
    // Created but never published: not live, so not on the home page.
    create_stream(&s, &caster, json!({"title": "Not on air yet"})).await;
    let id = stream["id"].as_str().unwrap().to_string();
    let ffmpeg = go_live(&s, &stream, None).await;

    let report = run_scenario(&s, "home_live", json!({"stream_id": id, "title": title})).await;
    stop(ffmpeg);

    let links = report["home_live_links"].to_string();
    assert!(links.contains(title), "{report:#}");
    assert!(
        !links.contains("Not on air yet"),
        "a stream that is not live is listed: {report:#}"
    );
    assert_eq!(report["live_heading"], title, "{report:#}");
    assert_eq!(report["video_elements"], 1, "{report:#}");
    assert!(playback_advanced(&report) >= 3.0, "{report:#}");
    assert_eq!(report["playback"]["width"], 640, "{report:#}");
    assert_eq!(report["playback"]["height"], 360, "{report:#}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_reaches_other_viewers_and_markup_stays_text() {
    let _one = BROWSER.lock().await;
    let s = live_server().await;
    let host = register(&s, "host", "streamer").await;
    let mira = register(&s, "mira", "viewer").await;
    // Chat does not need the stream to be on air, so no publisher takes CPU from two browsers.
    let stream = create_stream(&s, &host, json!({"title": "Chatty"})).await;
    let id = stream["id"].as_str().unwrap().to_string();
    let markup = "<img src=x onerror=window.__pwned=1><b>bold</b>";

    let report = run_scenario(
        &s,
        "chat",
        json!({"stream_id": id, "user": mira.credentials(), "markup": markup}),
    )
    .await;

    let hello = report["hello_seen_by_b"].as_str().unwrap_or("");
    assert!(
        hello.starts_with("mira") && hello.contains("hello from mira"),
        "{report:#}"
    );
    let answer = report["answer_seen_by_a"].as_str().unwrap_or("");
    assert!(answer.starts_with("guest-viewer"), "{report:#}");
    for side in ["markup_a", "markup_b"] {
        assert_eq!(report[side]["literal"], true, "{side}: {report:#}");
        assert_eq!(
            report[side]["elements"], 0,
            "markup became elements: {report:#}"
        );
        assert_eq!(report[side]["pwned"], false, "markup ran: {report:#}");
    }

    let (st, messages) = s.get(&format!("/api/streams/{id}/chat?limit=100")).await;
    assert_eq!(st, 200, "{messages}");
    let messages = messages.as_array().unwrap();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert_eq!(messages[0]["username"], "mira");
    assert_eq!(
        messages[0]["user_id"],
        mira.id.as_str(),
        "signed-in chat is the account's"
    );
    assert_eq!(messages[1]["username"], "guest-viewer");
    assert_eq!(messages[1]["user_id"], Value::Null);
    assert_eq!(messages[2]["message"], markup, "stored as sent");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_stream_plays_only_with_its_password() {
    let _one = BROWSER.lock().await;
    let s = live_server().await;
    let host = register(&s, "host", "streamer").await;
    let password = "open-sesame-42";
    let title = "Members only";
    let stream = create_stream(&s, &host, json!({"title": title, "password": password})).await;
    assert_eq!(stream["is_private"], true, "{stream}");
    let id = stream["id"].as_str().unwrap().to_string();
    let ffmpeg = go_live(&s, &stream, Some(password)).await;
    let (st, _) = s.get(&format!("/api/streams/{id}")).await;
    assert_eq!(st, 404, "a private stream is hidden without its password");

    let report = run_scenario(
        &s,
        "private",
        json!({"stream_id": id, "password": password}),
    )
    .await;
    stop(ffmpeg);

    assert_eq!(report["videos_before"], 0, "{report:#}");
    assert!(
        report["wrong_password_error"]
            .as_str()
            .is_some_and(|e| e.contains("Wrong password")),
        "{report:#}"
    );
    assert_eq!(report["videos_after_wrong"], 0, "{report:#}");
    assert_eq!(report["heading"], title, "{report:#}");
    assert!(playback_advanced(&report) >= 2.0, "{report:#}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_through_the_form_is_processed_and_plays() {
    let _one = BROWSER.lock().await;
    let s = TestServer::start(
        Backend::Sqlite,
        &[
            ("ENABLE_ADAPTIVE_BITRATE", "false"),
            ("TRANSCODING_PRESET", "ultrafast"),
        ],
    )
    .await
    .unwrap();
    let _admin = register(&s, "host", "streamer").await;
    let vera = register(&s, "vera", "viewer").await;
    let file = make_video(s.data_dir(), "holiday.mp4", 6);
    let title = "Holiday, day one";

    let report = run_scenario(
        &s,
        "upload",
        json!({"user": vera.credentials(), "file": file, "title": title}),
    )
    .await;

    assert_eq!(report["progressbar_shown"], true, "{report:#}");
    let seen = report["progress_seen"].to_string();
    assert!(
        seen.contains("upload-progress") && seen.contains("processing-progress"),
        "progress bars for both the upload and the processing: {report:#}"
    );
    assert_eq!(report["heading"], title, "{report:#}");
    assert!(playback_advanced(&report) >= 1.5, "{report:#}");

    let video_id = report["video_id"].as_str().unwrap();
    let (st, video) = s.get(&format!("/api/videos/{video_id}")).await;
    assert_eq!(st, 200, "{video}");
    assert_eq!(video["title"], title, "{video}");
    assert_eq!(
        video["uploader_id"],
        vera.id.as_str(),
        "uploaded as the signed-in account"
    );
    assert_eq!(video["processing_status"], "completed", "{video}");
    assert!(video["hls_url"].is_string(), "{video}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamer_creates_a_stream_in_the_studio() {
    let _one = BROWSER.lock().await;
    let s = TestServer::start(Backend::Sqlite, &[]).await.unwrap();
    let _admin = register(&s, "host", "streamer").await;
    let sol = register(&s, "sol", "streamer").await;
    let title = "Sol’s first stream";

    let report = run_scenario(
        &s,
        "studio",
        json!({"user": sol.credentials(), "title": title}),
    )
    .await;

    let shown = report["key_text_shown"].as_str().unwrap_or("");
    let hidden = report["key_text_hidden"].as_str().unwrap_or("");
    assert!(shown.len() >= 8, "{report:#}");
    assert!(
        !hidden.contains(shown),
        "the key was on screen before Show key: {report:#}"
    );
    assert_eq!(report["key_visible"], true, "{report:#}");

    let id = report["live_page_href"]
        .as_str()
        .and_then(|h| h.strip_prefix("/live/"))
        .unwrap_or_else(|| panic!("{report:#}"));
    let (st, stream) = s
        .send(
            s.http
                .get(s.url(&format!("/api/streams/{id}")))
                .bearer_auth(&sol.token),
        )
        .await;
    assert_eq!(st, 200, "{stream}");
    assert_eq!(stream["title"], title, "{stream}");
    assert_eq!(stream["streamer_id"], sol.id.as_str(), "{stream}");
    assert_eq!(stream["stream_key"], shown, "the key shown is the stream's");
    let (_, listed) = s.get(&format!("/api/streams?streamer_id={}", sol.id)).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_changes_a_role_on_the_admin_page() {
    let _one = BROWSER.lock().await;
    let s = TestServer::start(Backend::Sqlite, &[]).await.unwrap();
    let host = register(&s, "host", "streamer").await;
    let pat = register(&s, "pat", "viewer").await;
    let (_, me) = s
        .send(s.http.get(s.url("/api/auth/me")).bearer_auth(&host.token))
        .await;
    assert_eq!(me["role"], "admin", "the first account is the admin: {me}");

    let report = run_scenario(
        &s,
        "admin",
        json!({"user": host.credentials(), "target": "pat", "role": "moderator"}),
    )
    .await;

    assert_eq!(report["role_before"], "viewer", "{report:#}");
    assert_eq!(report["saved_note"], "Now moderator", "{report:#}");
    assert_eq!(report["role_after_reload"], "moderator", "{report:#}");
    let (_, user) = s.get(&format!("/api/users/{}", pat.id)).await;
    assert_eq!(user["role"], "moderator", "{user}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_accessible_and_fits_a_phone_in_both_themes() {
    let _one = BROWSER.lock().await;
    let s = TestServer::start(
        Backend::Sqlite,
        &[
            ("HLS_SEGMENT_DURATION_MS", "1000"),
            ("ENABLE_ADAPTIVE_BITRATE", "false"),
            ("TRANSCODING_PRESET", "ultrafast"),
        ],
    )
    .await
    .unwrap();
    let host = register(&s, "ada", "streamer").await;
    register(&s, "grace", "viewer").await;
    let stream = create_stream(
        &s,
        &host,
        json!({
            "title": "Building a streaming server, live",
            "description": "Rust, ffmpeg and a lot of coffee.",
            "category": "Science & Technology",
            "tags": ["rust", "video"],
        }),
    )
    .await;
    let id = stream["id"].as_str().unwrap().to_string();
    let ffmpeg = go_live(&s, &stream, None).await;
    for (who, text) in [
        ("grace", "Hi! Which codec is this?"),
        ("ada", "H.264 with AAC, straight from the encoder."),
    ] {
        let (st, m) = s
            .post(
                &format!("/api/streams/{id}/chat"),
                json!({"username": who, "message": text}),
            )
            .await;
        assert_eq!(st, 201, "{m}");
    }
    let clip = make_video(s.data_dir(), "timelapse.mp4", 6);
    let video = s.upload_processed(&clip, &host.id).await;

    let report = run_scenario(
        &s,
        "a11y_layout",
        json!({
            "user": host.credentials(),
            "live_stream_id": id,
            "video_id": video["id"],
            "channel_id": host.id,
        }),
    )
    .await;
    stop(ffmpeg);

    let layout = report["layout"].as_object().expect("layout figures");
    // 13 page visits, two widths, two schemes.
    assert_eq!(layout.len(), 13 * 4, "{report:#}");
    let too_wide: Vec<_> = layout
        .iter()
        .filter(|(label, l)| label.contains("@360") && l["fits"] != true)
        .collect();
    assert!(
        too_wide.is_empty(),
        "pages wider than a 360 px phone: {too_wide:#?}"
    );
    let dark: Vec<_> = layout
        .iter()
        .filter(|(label, l)| label.ends_with("-dark") && l["scheme_dark"] != true)
        .collect();
    assert!(dark.is_empty(), "dark scheme not emulated: {dark:#?}");
    for name in ["layout-live-1440-light", "layout-studio-1440-light"] {
        let shot = s.data_dir().join("screenshots").join(format!("{name}.png"));
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(
            size > 20_000,
            "{} is not a real screenshot ({size} bytes)",
            shot.display()
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goes_live_without_reload() {
    let _one = BROWSER.lock().await;
    let s = live_server().await;
    let _admin = register(&s, "host", "streamer").await;
    let caster = register(&s, "caster", "streamer").await;
    // Not recorded: turning the recording into a video after the end would only take CPU.
    let stream = create_stream(
        &s,
        &caster,
        json!({"title": "Starting soon", "record": false}),
    )
    .await;
    assert_eq!(stream["status"], "scheduled", "{stream}");
    let id = stream["id"].as_str().unwrap().to_string();
    let rtmp_url = stream["rtmp_url"].as_str().unwrap().to_string();

    let mut ffmpeg = None;
    let report = run_cued_scenario(
        &s,
        "goes_live",
        json!({"stream_id": id}),
        async |cue: &str| match cue {
            "publish" => {
                ffmpeg = Some(publish(&rtmp_url, 300));
                json!({"publishing": true})
            }
            "end" => {
                let (st, body) = s
                    .send(
                        s.http
                            .post(s.url(&format!("/api/streams/{id}/end")))
                            .bearer_auth(&caster.token),
                    )
                    .await;
                json!({"status": st, "stream_status": body["status"]})
            }
            other => panic!("goes_live gave the cue {other:?}"),
        },
    )
    .await;
    if let Some(ffmpeg) = ffmpeg {
        stop(ffmpeg);
    }

    assert!(
        report["offline_status"]
            .as_str()
            .is_some_and(|t| t.contains("Offline")),
        "{report:#}"
    );
    let before = &report["before"];
    assert_eq!(before["videos"], 1, "{report:#}");
    assert_eq!(
        before["playing_events"], 0,
        "played before going live: {report:#}"
    );
    assert_eq!(before["current_time"], 0.0, "{report:#}");
    assert_eq!(before["ready_state"], 0, "{report:#}");
    assert_eq!(before["network_state"], 0, "{report:#}");

    assert!(playback_advanced(&report) >= 2.0, "{report:#}");
    let live = &report["while_live"];
    assert_eq!(live["navigation_entries"], 1, "{report:#}");
    assert_eq!(
        live["marker_kept"], true,
        "the page was reloaded: {report:#}"
    );
    assert_eq!(live["loads"], 0, "the page loaded again: {report:#}");
    assert_eq!(live["path"], format!("/live/{id}"), "{report:#}");
    assert_eq!(live["offline_shown"], 0, "still says Offline: {report:#}");
    assert_eq!(
        live["player_errors_shown"], 0,
        "an error stays on screen while playing: {report:#}"
    );

    assert_eq!(report["cues"]["end"]["status"], 200, "{report:#}");
    assert!(
        report["ended_status"]
            .as_str()
            .is_some_and(|t| t.contains("This stream has ended.")),
        "{report:#}"
    );
    let after = &report["after_end"];
    assert_eq!(after["navigation_entries"], 1, "{report:#}");
    assert_eq!(
        after["marker_kept"], true,
        "the page was reloaded: {report:#}"
    );
    assert_eq!(after["loads"], 0, "the page loaded again: {report:#}");
    assert_eq!(after["chat_closed"], 1, "{report:#}");
    assert_eq!(
        after["player_released"], true,
        "the player still holds the stream: {report:#}"
    );

    let (st, now) = s.get(&format!("/api/streams/{id}")).await;
    assert_eq!(st, 200, "{now}");
    assert_eq!(now["status"], "ended", "{now}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderator_deletes_a_message() {
    let _one = BROWSER.lock().await;
    let s = live_server().await;
    // The first account is the admin; the streamer below may delete only as the stream's own.
    let _admin = register(&s, "host", "streamer").await;
    let caster = register(&s, "caster", "streamer").await;
    let mira = register(&s, "mira", "viewer").await;
    let stream = create_stream(&s, &caster, json!({"title": "Moderated"})).await;
    let id = stream["id"].as_str().unwrap().to_string();
    let kept = "first message, which stays";
    let doomed = "second message, to be deleted";

    let report = run_scenario(
        &s,
        "moderation",
        json!({
            "stream_id": id,
            "streamer": caster.credentials(),
            "viewer": mira.credentials(),
            "kept": kept,
            "doomed": doomed,
        }),
    )
    .await;

    assert_eq!(
        report["delete_buttons"],
        json!({"streamer": 2, "viewer": 0, "guest": 0}),
        "delete buttons for the streamer alone, one a message: {report:#}"
    );
    assert_eq!(
        report["delete_button_name"], "Delete message from mira",
        "{report:#}"
    );
    for who in ["streamer", "viewer", "guest"] {
        let seen = &report["after_delete"][who];
        assert_eq!(seen["doomed_lines"], 0, "{who}: {report:#}");
        assert_eq!(seen["kept_lines"], 1, "{who}: {report:#}");
        assert_eq!(seen["alerts"], json!([]), "{who}: {report:#}");
    }

    let (st, messages) = s.get(&format!("/api/streams/{id}/chat?limit=100")).await;
    assert_eq!(st, 200, "{messages}");
    let messages = messages.as_array().unwrap();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert_eq!(messages[0]["message"], kept, "{messages:#?}");
    assert_eq!(messages[0]["user_id"], mira.id.as_str(), "{messages:#?}");
    s.stop().await;
}

/// A video large enough for several of the app's 8 MiB tus chunks, made in about a second:
/// x264's constant bitrate pads the easy test pattern with filler up to the rate asked for.
fn make_large_video(dir: &Path, name: &str, seconds: u32, mbit_per_second: u32) -> PathBuf {
    let out = dir.join(name);
    let rate = format!("{mbit_per_second}M");
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size=1280x720:rate=30:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={seconds}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-b:v", &rate, "-minrate", &rate, "-maxrate", &rate])
        .args(["-bufsize", &format!("{}M", mbit_per_second / 2)])
        .args(["-x264-params", "nal-hrd=cbr", "-c:a", "aac", "-shortest"])
        .arg(&out)
        .status()
        .expect("ffmpeg must be installed for the tests");
    assert!(status.success(), "ffmpeg failed to make {name}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_resumes_after_reload() {
    let _one = BROWSER.lock().await;
    // Resuming is about the bytes; processing the video afterwards would only take CPU.
    let s = TestServer::start(Backend::Sqlite, &[("ENABLE_TRANSCODING", "false")])
        .await
        .unwrap();
    let _admin = register(&s, "host", "streamer").await;
    let vera = register(&s, "vera", "viewer").await;
    let file = make_large_video(s.data_dir(), "long-take.mp4", 4, 60);
    let size = std::fs::metadata(&file).unwrap().len();
    const MIB: u64 = 1024 * 1024;
    assert!(size > 3 * 8 * MIB, "{size} bytes is not several chunks");
    let title = "The long take";

    let report = run_scenario(
        &s,
        "upload_resume",
        json!({
            "user": vera.credentials(),
            "file": file,
            "title": title,
            // A chunk takes eight seconds: the server has the first one well before the second
            // is through, and the reload comes in between.
            "upload_bytes_per_second": MIB,
        }),
    )
    .await;

    let upload_id = report["upload_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{report:#}"));
    let before = &report["before_reload"];
    let held = before["server"]["bytes_received"].as_u64().unwrap_or(0);
    assert!(
        held > 0 && held < size,
        "the server held part of the file before the reload: {report:#}"
    );
    assert_eq!(before["server"]["total_bytes"], size, "{report:#}");
    assert!(
        before["progress_value"].as_f64().unwrap_or(0.0) > 0.0,
        "{report:#}"
    );
    assert_eq!(
        before["stored_uploads"].as_array().map(Vec::len),
        Some(1),
        "the upload is remembered for resuming: {report:#}"
    );

    let requests = report["tus_requests"].as_array().unwrap();
    let after: Vec<_> = requests.iter().filter(|r| r["reloaded"] == true).collect();
    assert!(
        !after.iter().any(|r| r["method"] == "POST"),
        "a new upload was created after the reload: {report:#}"
    );
    let resumed_at = after
        .iter()
        .find(|r| r["method"] == "PATCH")
        .and_then(|r| r["upload_offset"].as_str())
        .and_then(|o| o.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no PATCH after the reload: {report:#}"));
    assert!(
        resumed_at >= held,
        "the upload started over instead of resuming: {report:#}"
    );
    assert!(
        after
            .iter()
            .all(|r| r["path"] == format!("/api/uploads/{upload_id}")),
        "{report:#}"
    );
    eprintln!(
        "resumed at {resumed_at} of {size} bytes: {} sent after the reload",
        size - resumed_at
    );
    let labels: Vec<_> = report["progress_seen"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["id"] == "upload-progress")
        .filter_map(|p| p["label"].as_str())
        .collect();
    assert!(
        !labels.is_empty() && labels.iter().all(|l| l.contains("(resumed)")),
        "the progress bar says the upload resumed: {report:#}"
    );
    assert_eq!(
        report["stored_after"],
        json!([]),
        "a finished upload is forgotten: {report:#}"
    );
    assert_eq!(
        report["video_id"], upload_id,
        "the video is the upload begun before the reload: {report:#}"
    );

    let (st, videos) = s.get(&format!("/api/videos?uploader_id={}", vera.id)).await;
    assert_eq!(st, 200, "{videos}");
    let videos = videos.as_array().unwrap();
    assert_eq!(videos.len(), 1, "one upload, one video: {videos:#?}");
    assert_eq!(videos[0]["id"], upload_id, "{videos:#?}");
    assert_eq!(videos[0]["title"], title, "{videos:#?}");
    assert_eq!(videos[0]["file_size"], size, "{videos:#?}");
    let (st, upload) = s
        .send(
            s.http
                .get(s.url(&format!("/api/uploads/{upload_id}")))
                .bearer_auth(&vera.token),
        )
        .await;
    assert_eq!(st, 200, "{upload}");
    assert_eq!(upload["state"], "completed", "{upload}");
    assert_eq!(upload["bytes_received"], size, "{upload}");
    s.stop().await;
}

/* ------------------------------------------------------------- serving, no browser */

/// The values of `attr="..."` in `html` (enough for the build's own index.html).
fn attr_values(html: &str, attr: &str) -> Vec<String> {
    let needle = format!("{attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            rest.find('"').map(|end| rest[..end].to_string())
        })
        .collect()
}

fn entry_script(html: &str) -> String {
    attr_values(html, "src")
        .into_iter()
        .find(|s| s.starts_with("/assets/") && s.ends_with(".js"))
        .unwrap_or_else(|| panic!("no entry script in index.html:\n{html}"))
}

fn brotli_decompress(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut node = std::process::Command::new("node")
        .args([
            "-e",
            "process.stdout.write(require('zlib').brotliDecompressSync(require('fs').readFileSync(0)))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node decompresses brotli for this test");
    node.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = node.wait_with_output().unwrap();
    assert!(out.status.success(), "not brotli");
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_is_served_beside_the_api() {
    let s = TestServer::start(Backend::Sqlite, &[]).await.unwrap();
    let dist = dist_dir();
    let index_on_disk = std::fs::read(dist.join("index.html")).expect("web/dist is built");

    let r = s
        .http
        .get(s.url("/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    let header = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert!(header("content-type").starts_with("text/html"), "{h:?}");
    assert!(
        header("content-security-policy").contains("script-src 'self'"),
        "{h:?}"
    );
    assert!(header("cache-control").contains("no-cache"), "{h:?}");
    let html = r.text().await.unwrap();
    assert_eq!(
        html.as_bytes(),
        index_on_disk,
        "the server embeds another web/dist than the one on disk: rebuild the crate"
    );

    // Content-hashed assets: kept for good, sent precompressed.
    let entry = entry_script(&html);
    let raw = std::fs::read(dist.join(entry.trim_start_matches('/'))).unwrap();
    let r = s
        .http
        .get(s.url(&entry))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert!(
        h["cache-control"].to_str().unwrap().contains("immutable"),
        "{h:?}"
    );
    assert_eq!(h["content-encoding"], "br", "{h:?}");
    assert!(
        h["content-type"].to_str().unwrap().contains("javascript"),
        "{h:?}"
    );
    let br = r.bytes().await.unwrap();
    assert!(br.len() < raw.len(), "compressed");
    assert_eq!(brotli_decompress(&br), raw, "the brotli body is the file");

    let r = s
        .http
        .get(s.url(&entry))
        .header("accept-encoding", "gzip;q=0, identity")
        .send()
        .await
        .unwrap();
    assert!(
        r.headers().get("content-encoding").is_none(),
        "{:?}",
        r.headers()
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), raw.as_slice());

    // The app's own pages get index.html, and the app routes them in the browser.
    for page in ["/live/anything", "/studio/videos", "/channel/user_x"] {
        let r = s
            .http
            .get(s.url(page))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{page}");
        assert_eq!(
            r.bytes().await.unwrap().as_ref(),
            index_on_disk.as_slice(),
            "{page}"
        );
    }
    // API, media and asset paths never turn into a web page.
    for path in [
        "/api/nope",
        "/api/streams/stream_missing/nothing",
        "/assets/missing-0000.js",
    ] {
        let r = s
            .http
            .get(s.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.contains("json"), "{path}: {ct}");
        let body: Value = r.json().await.unwrap();
        assert!(body["detail"].is_string(), "{path}: {body}");
    }
    s.stop().await;
}

/// The relative paths a built chunk imports statically (`import … from"./x.js"`,
/// `import"./x.js"`, `export … from"./x.js"`); dynamic `import("./x.js")` is left out.
fn static_imports(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for keyword in ["from", "import"] {
        for quote in ['"', '\''] {
            let needle = format!("{keyword}{quote}./");
            for (i, _) in code.match_indices(&needle) {
                let rest = &code[i + needle.len() - 2..];
                if let Some(end) = rest[1..].find(quote) {
                    found.push(rest[..=end].to_string());
                }
            }
        }
    }
    found
}

#[test]
fn the_home_page_loads_under_100_kib_of_javascript() {
    let dist = dist_dir();
    let html = std::fs::read_to_string(dist.join("index.html")).expect("web/dist is built");
    let mut pending: Vec<String> = attr_values(&html, "src")
        .into_iter()
        .chain(attr_values(&html, "href"))
        .filter(|p| p.starts_with("/assets/") && p.ends_with(".js"))
        .map(|p| p.trim_start_matches('/').to_string())
        .collect();
    assert!(!pending.is_empty(), "no script in index.html");
    let mut loaded = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !loaded.insert(name.clone()) {
            continue;
        }
        let code = std::fs::read_to_string(dist.join(&name))
            .unwrap_or_else(|e| panic!("{name}, imported by the home page: {e}"));
        let folder = Path::new(&name).parent().unwrap();
        for import in static_imports(&code) {
            let path = folder.join(import.trim_start_matches("./"));
            pending.push(path.to_string_lossy().into_owned());
        }
    }
    let mut total = 0;
    let mut sizes = Vec::new();
    for name in &loaded {
        let br = dist.join(format!("{name}.br"));
        let size = std::fs::metadata(&br)
            .or_else(|_| std::fs::metadata(dist.join(name)))
            .unwrap()
            .len();
        sizes.push(format!("{name}: {size}"));
        total += size;
    }
    eprintln!("home page JavaScript, brotli: {total} bytes ({sizes:?})");
    assert!(
        !loaded.iter().any(|n| n.contains("hls")),
        "the player library loads on the home page: {sizes:?}"
    );
    assert!(total < 100 * 1024, "{total} bytes of JavaScript: {sizes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_sessions_need_the_csrf_token_and_this_origin() {
    let s = TestServer::start(Backend::Sqlite, &[]).await.unwrap();
    register(&s, "host", "streamer").await;
    let kit = register(&s, "kit", "streamer").await;

    let r = s
        .http
        .post(s.url("/api/auth/session"))
        .json(&json!({"username": "kit", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let session: Value = r.json().await.unwrap();
    assert!(set_cookie.starts_with("ferrocast_session="), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite="), "{set_cookie}");
    assert_eq!(session["user"]["id"], kit.id.as_str(), "{session}");
    let csrf = session["csrf_token"]
        .as_str()
        .expect("a CSRF token")
        .to_string();
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let own_origin = s.base.clone();

    let create = |token: Option<&str>, origin: &str| {
        let mut req = s
            .http
            .post(s.url("/api/streams"))
            .header("cookie", &cookie)
            .header("origin", origin)
            .json(&json!({"title": "Cookie stream"}));
        if let Some(t) = token {
            req = req.header("x-csrf-token", t);
        }
        req
    };
    let (st, body) = s.send(create(None, &own_origin)).await;
    assert_eq!(st, 403, "a cookie write without the CSRF token: {body}");
    let (st, body) = s.send(create(Some("0123abcd"), &own_origin)).await;
    assert_eq!(st, 403, "a wrong CSRF token: {body}");
    let (st, created) = s.send(create(Some(&csrf), &own_origin)).await;
    assert_eq!(st, 201, "{created}");
    assert_eq!(created["streamer_id"], kit.id.as_str(), "{created}");

    // From another site's page the cookie signs nobody in, token or not.
    let (st, body) = s.send(create(Some(&csrf), "http://evil.example")).await;
    assert_ne!(st, 201, "a foreign page wrote as kit: {body}");
    let me = |origin: Option<&str>| {
        let mut req = s.http.get(s.url("/api/auth/me")).header("cookie", &cookie);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req
    };
    let (st, body) = s.send(me(None)).await;
    assert_eq!(
        (st, body["username"].clone()),
        (200, json!("kit")),
        "{body}"
    );
    let (st, body) = s.send(me(Some(&own_origin))).await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = s.send(me(Some("http://evil.example"))).await;
    assert_eq!(st, 401, "a foreign origin is anonymous: {body}");
    let (_, current) = s
        .send(
            s.http
                .get(s.url("/api/auth/session"))
                .header("cookie", &cookie)
                .header("origin", "http://evil.example"),
        )
        .await;
    assert_eq!(current["user"], Value::Null, "{current}");
    assert_eq!(current["csrf_token"], Value::Null, "{current}");
    let (_, listed) = s.get(&format!("/api/streams?streamer_id={}", kit.id)).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    s.stop().await;
}

#[test]
fn static_imports_leave_dynamic_ones_out() {
    let code = r#"import{t as y}from"./Player-X.js";import"./side.js";export{a}from'./re.js';const l=()=>import("./Lazy.js");"#;
    let mut found = static_imports(code);
    found.sort();
    assert_eq!(found, ["./Player-X.js", "./re.js", "./side.js"]);
}
