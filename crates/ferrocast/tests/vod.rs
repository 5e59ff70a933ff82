//! Video on demand processing, judged with the real ffmpeg/ffprobe: uploads become an HLS and a
//! DASH ladder over one set of CMAF segments, with thumbnails and a preview; jobs survive a
//! restart, can be cancelled, and private videos need a signature.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Backend, TestServer, error_locs};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// Makes a small input with ffmpeg; `video` is a lavfi source, `audio` whether to add a tone.
fn make_media(dir: &Path, name: &str, video: Option<&str>, audio: bool, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y"]);
    if let Some(v) = video {
        cmd.args(["-f", "lavfi", "-i", v]);
    }
    if audio {
        cmd.args(["-f", "lavfi", "-i", "sine=frequency=440:duration=3"]);
    }
    if video.is_some() {
        cmd.args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ]);
    }
    if audio {
        cmd.args(["-c:a", "aac"]);
    }
    cmd.args(extra);
    cmd.args(["-shortest"]).arg(&out);
    let status = cmd
        .status()
        .expect("ffmpeg must be installed for the tests");
    assert!(status.success(), "ffmpeg failed to make {name}");
    out
}

async fn upload(s: &TestServer, path: &Path, token: Option<&str>, public: bool) -> Value {
    let form = common::file_form(path)
        .text("title", "clip")
        .text("is_public", if public { "true" } else { "false" });
    let req = s.http.post(s.url("/api/videos/upload"));
    let req = match token {
        Some(t) => req.bearer_auth(t).multipart(form),
        None => req.multipart(form.text("uploader_id", "user_vod")),
    };
    let (st, body) = s.send(req).await;
    assert_eq!(st, 201, "upload: {body}");
    body
}

/// Waits until the job is running (its ffmpeg started).
async fn wait_running(s: &TestServer, job_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (st, job) = s.get(&format!("/api/jobs/{job_id}")).await;
        assert_eq!(st, 200, "{job}");
        if job["state"] == "running" {
            return job;
        }
        assert!(Instant::now() < deadline, "job never ran: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn newest_job_id(s: &TestServer, video_id: &str) -> String {
    let (st, jobs) = s.get(&format!("/api/videos/{video_id}/jobs")).await;
    assert_eq!(st, 200);
    jobs[0]["id"].as_str().expect("a queued job").to_string()
}

/// Runs a media tool to success and returns what it printed.
fn run_ok(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().expect("ffmpeg and ffprobe must be installed");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// ffprobe's streams of a URL or file: (codec_type, width, height).
fn probe_streams(target: &str) -> Vec<(String, i64, i64)> {
    let out = run_ok(Command::new("ffprobe").args([
        "-v",
        "error",
        "-show_entries",
        "stream=codec_type,width,height",
        "-of",
        "json",
        target,
    ]));
    let v: Value = serde_json::from_slice(&out).unwrap();
    v["streams"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            (
                s["codec_type"].as_str().unwrap_or("").to_string(),
                s["width"].as_i64().unwrap_or(0),
                s["height"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

/// ffprobe's duration of a URL or file, in seconds.
fn media_seconds(target: &str) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            target,
        ])
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no duration for {target}"))
}

fn video_sizes(streams: &[(String, i64, i64)]) -> Vec<(i64, i64)> {
    let mut v: Vec<(i64, i64)> = streams
        .iter()
        .filter(|s| s.0 == "video")
        .map(|s| (s.1, s.2))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Downloads `path` and returns ffprobe's picture size of it.
async fn image_size(s: &TestServer, path: &str, dir: &Path) -> (i64, i64) {
    let r = s.http.get(s.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let file = dir.join(path.rsplit('/').next().unwrap().split('?').next().unwrap());
    std::fs::write(&file, r.bytes().await.unwrap()).unwrap();
    let sizes = video_sizes(&probe_streams(file.to_str().unwrap()));
    assert_eq!(sizes.len(), 1, "{path} is not one picture");
    sizes[0]
}

/// Decodes every stream of `url` to the end: the segments are real media.
fn decode_all(url: &str) {
    run_ok(Command::new("ffmpeg").args(["-v", "error", "-i", url, "-map", "0", "-f", "null", "-"]));
}

const FAST: &[(&str, &str)] = &[
    ("TRANSCODING_PRESET", "ultrafast"),
    ("TRANSCODING_CONCURRENCY", "2"),
];

async fn ladder_hls_dash_and_pictures(backend: Backend) {
    let Some(s) = TestServer::start(backend, FAST).await else {
        return;
    };
    let input = make_media(
        s.data_dir(),
        "clip.mp4",
        Some("testsrc=size=854x480:rate=25:duration=3"),
        true,
        &[],
    );
    let video = upload(&s, &input, None, true).await;
    let id = video["id"].as_str().unwrap().to_string();
    let job = s.ended_job(&id, None, 0).await;
    assert_eq!(job["state"], "completed", "{job}");

    // Processing again, with the seed's body, while listening on the video's channel.
    let (mut ws, _) = tokio_tungstenite::connect_async(s.ws_url(&format!("/ws/{id}")))
        .await
        .expect("websocket on a video id");
    let (st, job) = s
        .post(
            &format!("/api/videos/{id}/transcode?uploader_id=user_vod"),
            json!({"profiles": ["720p", "480p", "360p"], "generateHLS": true,
                   "generateDASH": true, "generateThumbnails": true}),
        )
        .await;
    assert_eq!(st, 202, "{job}");
    assert_eq!(job["state"], "queued");
    assert_eq!(job["params"]["profiles"], json!(["720p", "480p", "360p"]));
    let job_id = job["id"].as_str().unwrap().to_string();
    let mut kinds = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !kinds.iter().any(|k| k == "transcode_completed") {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, ws.next())
            .await
            .expect("events before the deadline")
            .expect("socket open")
            .expect("frame");
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            let ev: Value = serde_json::from_str(t.as_str()).unwrap();
            let kind = ev["type"].as_str().unwrap_or("").to_string();
            // The first job's last event may still be on its way; only this job's count.
            if !kind.starts_with("transcode_") || ev["job_id"] != job_id.as_str() {
                continue;
            }
            assert_ne!(kind, "transcode_failed", "{ev}");
            if kind == "transcode_completed" {
                assert_eq!(ev["video"]["processing_status"], "completed");
            }
            kinds.push(kind);
        }
    }
    assert_eq!(kinds[0], "transcode_started", "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "transcode_progress"), "{kinds:?}");
    let (st, job) = s.get(&format!("/api/jobs/{job_id}")).await;
    assert_eq!(st, 200);
    assert_eq!(job["state"], "completed");
    assert_eq!(job["progress"], 100.0);
    assert_eq!(job["eta_seconds"], 0);
    assert_eq!(job["attempts"], 1);

    let (_, v) = s.get(&format!("/api/videos/{id}")).await;
    assert_eq!(v["processing_status"], "completed");
    assert_eq!(v["is_processed"], true);
    let sizes: Vec<(i64, i64)> = v["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["width"].as_i64().unwrap(), r["height"].as_i64().unwrap()))
        .collect();
    // 720p is above the 480-line source: dropped, never upscaled.
    assert_eq!(sizes, vec![(640, 360), (854, 480)]);
    let hls = s.url(v["hls_url"].as_str().unwrap());
    let dash = s.url(v["dash_url"].as_str().unwrap());
    assert!(hls.ends_with(&format!("/api/stream/{id}/hls/playlist.m3u8")));
    assert!(dash.ends_with(&format!("/api/stream/{id}/dash/manifest.mpd")));

    // Both manifests, read by ffprobe over HTTP, offer every rendition and the audio.
    for url in [&hls, &dash] {
        let streams = probe_streams(url);
        assert_eq!(video_sizes(&streams), sizes, "{url}: {streams:?}");
        assert!(streams.iter().any(|s| s.0 == "audio"), "{url}: {streams:?}");
    }
    decode_all(&hls);

    // Manifests are cached briefly (the master by the viewer only: it opens a playback session),
    // segments for good; segments answer byte ranges.
    let r = s.http.get(&hls).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/vnd.apple.mpegurl");
    assert_eq!(r.headers()["cache-control"], "private, max-age=10");
    let master = r.text().await.unwrap();
    let media = master
        .lines()
        .find(|l| !l.starts_with('#') && l.contains(".m3u8?s="))
        .expect("a variant");
    let media_url = s.url(&format!("/api/stream/{id}/hls/{media}"));
    let playlist = s.text(&media_url).await;
    let segment = playlist
        .lines()
        .find(|l| l.contains(".m4s?s=") && !l.starts_with('#'))
        .expect("a segment");
    for prefix in ["hls", "dash"] {
        let seg_url = s.url(&format!("/api/stream/{id}/{prefix}/{segment}"));
        let r = s.http.get(&seg_url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let whole = r.bytes().await.unwrap();
        let r = s
            .http
            .get(&seg_url)
            .header("Range", "bytes=4-11")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 206);
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes 4-11/{}", whole.len()).as_str()
        );
        assert_eq!(r.bytes().await.unwrap(), whole.slice(4..12));
    }
    let r = s.http.get(&dash).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/dash+xml");
    let (st, _) = s
        .get(&format!("/api/stream/{id}/hls/..%2F..%2Ftest.db"))
        .await;
    assert_eq!(st, 404);

    // Pictures: real JPEGs of the sizes asked, never upscaled.
    let t = &v["thumbnails"];
    assert_eq!(v["thumbnail_url"], t["card"]);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        image_size(&s, t["card"].as_str().unwrap(), dir.path()).await,
        (320, 180)
    );
    assert_eq!(
        image_size(&s, t["player"].as_str().unwrap(), dir.path()).await,
        (854, 480)
    );
    // One 160x90 tile a second, in a row.
    let tiles = v["duration"].as_f64().unwrap().ceil() as i64;
    assert!((3..=4).contains(&tiles));
    assert_eq!(
        image_size(&s, t["storyboard"].as_str().unwrap(), dir.path()).await,
        (160 * tiles, 90)
    );
    let vtt = s.text(&s.url(t["storyboard_vtt"].as_str().unwrap())).await;
    assert!(vtt.starts_with("WEBVTT"));
    assert!(vtt.contains("storyboard.jpg#xywh=320,0,160,90"), "{vtt}");

    // The preview clip and the original with byte ranges.
    let preview = s.url(v["preview_url"].as_str().unwrap());
    let streams = probe_streams(&preview);
    assert!(streams.iter().any(|s| s.0 == "video") && streams.iter().any(|s| s.0 == "audio"));
    // Cut from the 480p rendition, the whole 3 s clip (shorter than a preview).
    assert_eq!(video_sizes(&streams), vec![(854, 480)], "{streams:?}");
    let seconds = media_seconds(&preview);
    assert!((2.8..=3.3).contains(&seconds), "preview of {seconds} s");
    let r = s
        .http
        .get(s.url(&format!("/api/videos/{id}/file")))
        .header("Range", "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    let size = std::fs::metadata(&input).unwrap().len();
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 0-99/{size}").as_str()
    );
    assert_eq!(r.bytes().await.unwrap().len(), 100);
    let r = s
        .http
        .get(s.url(&format!("/api/videos/{id}/file")))
        .header("Range", format!("bytes={size}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    s.stop().await;
}

async fn transcode_requests_are_checked(backend: Backend) {
    let Some(s) = TestServer::start(backend, &[("ENABLE_TRANSCODING", "false")]).await else {
        return;
    };
    let input = common::make_video(s.data_dir(), "short.mp4", 1);
    let video = upload(&s, &input, None, true).await;
    let id = video["id"].as_str().unwrap();
    let path = format!("/api/videos/{id}/transcode?uploader_id=user_vod");
    let (st, body) = s
        .post(&path, json!({"profiles": ["720p", "8K", "360p"]}))
        .await;
    assert_eq!(st, 422, "{body}");
    assert_eq!(error_locs(&body), vec![vec!["body", "profiles", "1"]]);
    let (st, body) = s.post(&path, json!({"profiles": []})).await;
    assert_eq!(st, 422, "{body}");
    let (st, body) = s.post(&path, json!({"generateHLS": "yes"})).await;
    assert_eq!(st, 422, "{body}");
    let (st, body) = s.post(&path, json!({"colour": 1})).await;
    assert_eq!(st, 422, "{body}");
    let (st, _) = s
        .post(
            &format!("/api/videos/{id}/transcode?uploader_id=someone_else"),
            json!({}),
        )
        .await;
    assert_eq!(st, 403);
    // Valid, but transcoding is switched off here.
    let (st, _) = s.post(&path, json!({"profiles": ["360p"]})).await;
    assert_eq!(st, 503);
    let (st, _) = s.get("/api/jobs/job_nonexistent").await;
    assert_eq!(st, 404);
    let (st, jobs) = s.get(&format!("/api/videos/{id}/jobs")).await;
    assert_eq!((st, jobs), (200, json!([])));
    let (st, _) = s.get(&format!("/api/stream/{id}/hls/playlist.m3u8")).await;
    assert_eq!(st, 404, "not processed yet");
    s.stop().await;
}

on_both_databases!(ladder_hls_dash_and_pictures, transcode_requests_are_checked);

/// Each packet of `target`'s video stream as (size, md5 of its bytes), in order, read without
/// decoding.
fn video_packets(target: &str) -> Vec<(String, String)> {
    let out = run_ok(
        Command::new("ffmpeg")
            .args(["-v", "error", "-i", target, "-map", "0:v:0", "-c", "copy"])
            .args(["-f", "framemd5", "-"]),
    );
    String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            (f[4].to_string(), f[5].to_string())
        })
        .collect()
}

/// The segment durations of each variant the master lists, with the variant's resolution.
async fn variant_segments(
    s: &TestServer,
    video_id: &str,
    master_url: &str,
) -> Vec<(String, String, Vec<String>)> {
    let master = s.text(master_url).await;
    let mut out = Vec::new();
    let mut resolution = None;
    for line in master.lines() {
        if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            resolution = attrs
                .split(',')
                .find_map(|a| a.strip_prefix("RESOLUTION="))
                .map(str::to_string);
        } else if !line.starts_with('#') && line.contains(".m3u8") {
            let url = s.url(&format!("/api/stream/{video_id}/hls/{line}"));
            let playlist = s.text(&url).await;
            let durations = playlist
                .lines()
                .filter_map(|l| l.strip_prefix("#EXTINF:"))
                .map(|d| d.trim_end_matches(',').to_string())
                .collect();
            out.push((resolution.take().expect("RESOLUTION"), url, durations));
        }
    }
    out
}

/// A source that already is the top rung (H.264 4:2:0 at its size, a steady rate, under the
/// rung's bitrate ceiling, a keyframe every second) is copied into it: the rung's packets are the
/// source's, byte for byte, and every rung is cut into the same 4 s segments. A source whose
/// keyframes (every 1.5 s) would cut 4.5 s segments is encoded like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_fit_for_the_top_rung_is_passed_through() {
    let Some(s) = TestServer::start(Backend::Sqlite, FAST).await else {
        return;
    };
    // Keyframes every second (30 frames), and every 1.5 s.
    let mut sources = Vec::new();
    for (name, gop) in [("fit.mp4", "30"), ("long.mp4", "45")] {
        let source = Some("testsrc2=size=1280x720:rate=30:duration=9");
        let path = make_media(
            s.data_dir(),
            name,
            source,
            false,
            &["-g", gop, "-b:v", "1000k"],
        );
        let id = upload(&s, &path, None, true).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        sources.push((path, id));
    }
    let [(fit, fit_id), (long_gop, long_id)] = <[_; 2]>::try_from(sources).unwrap();

    for (id, copied) in [(&fit_id, true), (&long_id, false)] {
        let job = s.ended_job(id, None, 0).await;
        assert_eq!(job["state"], "completed", "{job}");
        let (_, v) = s.get(&format!("/api/videos/{id}")).await;
        let renditions = v["renditions"].as_array().unwrap();
        let named: Vec<(&str, bool)> = renditions
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap(),
                    r["passthrough"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            named,
            [("360p", false), ("480p", false), ("720p", copied)],
            "{v}"
        );
        let master = s.url(v["hls_url"].as_str().unwrap());
        let variants = variant_segments(&s, id, &master).await;
        assert_eq!(variants.len(), 3, "{variants:?}");
        // Every rung is cut at the same instants, on the 4 s grid.
        for (resolution, _, durations) in &variants {
            assert_eq!(
                durations,
                &["4.000000", "4.000000", "1.000000"],
                "{resolution}: {variants:?}"
            );
        }
        let top = variants
            .iter()
            .find(|v| v.0 == "1280x720")
            .expect("the 720p variant");
        let source = video_packets(if copied {
            fit.to_str().unwrap()
        } else {
            long_gop.to_str().unwrap()
        });
        let served = video_packets(&top.1);
        assert_eq!(served.len(), source.len(), "every frame, once");
        if copied {
            assert_eq!(served, source, "the source's packets, untouched");
            let kbps = renditions[2]["bitrate"].as_i64().unwrap();
            assert!(
                (500..=1500).contains(&kbps),
                "the source's own bitrate: {kbps}"
            );
        } else {
            assert_ne!(served, source, "re-encoded");
        }
        decode_all(&s.url(v["dash_url"].as_str().unwrap()));
    }
    s.stop().await;
}

/// Audio only, no audio, odd dimensions, rotation: each still becomes a playable stream.
/// With ENABLE_ADAPTIVE_BITRATE=false a video gets one rendition, the largest that fits, in both
/// the HLS master and the DASH manifest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_adaptive_bitrate_one_rendition() {
    let mut settings = FAST.to_vec();
    settings.push(("ENABLE_ADAPTIVE_BITRATE", "false"));
    let s = TestServer::start(Backend::Sqlite, &settings).await.unwrap();
    let dir = s.data_dir().to_path_buf();
    // Fits the 360p and 480p profiles.
    let input = make_media(
        &dir,
        "sd.mp4",
        Some("testsrc=size=854x480:rate=25:duration=3"),
        true,
        &[],
    );
    let v = upload(&s, &input, None, true).await;
    let id = v["id"].as_str().unwrap();
    assert_eq!(s.ended_job(id, None, 0).await["state"], "completed");
    let (_, v) = s.get(&format!("/api/videos/{id}")).await;
    let renditions: Vec<(&str, i64, i64)> = v["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r["width"].as_i64().unwrap(),
                r["height"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(renditions, vec![("480p", 854, 480)], "{v}");
    for url in ["hls_url", "dash_url"] {
        let streams = probe_streams(&s.url(v[url].as_str().unwrap()));
        assert_eq!(
            video_sizes(&streams),
            vec![(854, 480)],
            "{url}: {streams:?}"
        );
        assert!(streams.iter().any(|s| s.0 == "audio"), "{url}: {streams:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusual_inputs() {
    let s = TestServer::start(Backend::Sqlite, FAST).await.unwrap();
    let dir = s.data_dir().to_path_buf();
    let audio = make_media(&dir, "tone.mkv", None, true, &[]);
    let odd = make_media(
        &dir,
        "odd.mp4",
        Some("testsrc=size=321x241:rate=30:duration=3"),
        false,
        // 4:2:0 needs even sizes; 4:4:4 takes odd ones.
        &["-pix_fmt", "yuv444p"],
    );
    let flat = make_media(
        &dir,
        "flat.mp4",
        Some("testsrc=size=640x360:rate=25:duration=3"),
        true,
        &[],
    );
    // A phone's portrait clip: landscape pixels with a display rotation (set on a stream copy,
    // where this ffmpeg keeps it).
    let turned = dir.join("turned.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&flat)
        .args(["-c", "copy", "-metadata:s:v:0", "rotate=90"])
        .arg(&turned)
        .status()
        .unwrap();
    assert!(status.success());
    // Variable frame rate: 30 fps for a second, then 10 fps.
    let vfr = make_media(
        &dir,
        "vfr.mkv",
        Some("testsrc=size=480x270:rate=30:duration=3"),
        false,
        &[
            "-vf",
            "select='lt(n\\,30)+not(mod(n\\,3))'",
            "-fps_mode",
            "vfr",
        ],
    );
    let a = upload(&s, &audio, None, true).await;
    let o = upload(&s, &odd, None, true).await;
    let t = upload(&s, &turned, None, true).await;
    assert_eq!(t["resolution"], "360x640", "the displayed size is stored");

    let a_id = a["id"].as_str().unwrap();
    assert_eq!(s.ended_job(a_id, None, 0).await["state"], "completed");
    let (_, v) = s.get(&format!("/api/videos/{a_id}")).await;
    assert_eq!(v["renditions"], json!([]));
    assert!(v["thumbnails"].is_null());
    let streams = probe_streams(&s.url(v["hls_url"].as_str().unwrap()));
    assert!(
        !streams.is_empty() && streams.iter().all(|s| s.0 == "audio"),
        "{streams:?}"
    );
    decode_all(&s.url(v["dash_url"].as_str().unwrap()));
    let preview = probe_streams(&s.url(v["preview_url"].as_str().unwrap()));
    assert!(
        !preview.is_empty() && preview.iter().all(|s| s.0 == "audio"),
        "{preview:?}"
    );

    let o_id = o["id"].as_str().unwrap();
    assert_eq!(s.ended_job(o_id, None, 0).await["state"], "completed");
    let (_, v) = s.get(&format!("/api/videos/{o_id}")).await;
    let streams = probe_streams(&s.url(v["hls_url"].as_str().unwrap()));
    assert_eq!(video_sizes(&streams), vec![(320, 240)], "{streams:?}");
    assert!(
        streams.iter().all(|s| s.0 == "video"),
        "no audio in, none out"
    );
    let pics = tempfile::tempdir().unwrap();
    let card = v["thumbnails"]["card"].as_str().unwrap();
    assert_eq!(image_size(&s, card, pics.path()).await, (240, 180));
    // Seed 004's example body: no DASH this time; the earlier pictures stay.
    let (st, job) = s
        .post(
            &format!("/api/videos/{o_id}/transcode?uploader_id=user_vod"),
            json!({"profiles": ["720p", "480p", "360p"], "generateHLS": true,
                   "generateDASH": false, "generateThumbnails": false}),
        )
        .await;
    assert_eq!(st, 202, "{job}");
    assert_eq!(s.ended_job(o_id, None, 0).await["id"], job["id"]);
    let (_, v) = s.get(&format!("/api/videos/{o_id}")).await;
    assert!(v["dash_url"].is_null());
    let (st, _) = s
        .get(&format!("/api/stream/{o_id}/dash/manifest.mpd"))
        .await;
    assert_eq!(st, 404);
    decode_all(&s.url(v["hls_url"].as_str().unwrap()));
    assert_eq!(image_size(&s, card, pics.path()).await, (240, 180));

    let vfr = upload(&s, &vfr, None, true).await;
    let vfr_id = vfr["id"].as_str().unwrap();
    assert_eq!(s.ended_job(vfr_id, None, 0).await["state"], "completed");
    let (_, v) = s.get(&format!("/api/videos/{vfr_id}")).await;
    let hls = s.url(v["hls_url"].as_str().unwrap());
    assert_eq!(video_sizes(&probe_streams(&hls)), vec![(480, 270)]);
    decode_all(&hls);

    let t_id = t["id"].as_str().unwrap();
    assert_eq!(s.ended_job(t_id, None, 0).await["state"], "completed");
    let (_, v) = s.get(&format!("/api/videos/{t_id}")).await;
    let streams = probe_streams(&s.url(v["dash_url"].as_str().unwrap()));
    assert_eq!(video_sizes(&streams), vec![(360, 640)], "{streams:?}");
    let preview = s.url(v["preview_url"].as_str().unwrap());
    assert_eq!(video_sizes(&probe_streams(&preview)), vec![(360, 640)]);

    // No ladder asked for: the preview is encoded from the source instead.
    let (st, _) = s
        .post(
            &format!("/api/videos/{t_id}/transcode?uploader_id=user_vod"),
            json!({"generateHLS": false, "generateDASH": false, "generateThumbnails": false}),
        )
        .await;
    assert_eq!(st, 202);
    assert_eq!(s.ended_job(t_id, None, 1).await["state"], "completed");
    let (_, v) = s.get(&format!("/api/videos/{t_id}")).await;
    let preview = s.url(v["preview_url"].as_str().unwrap());
    let streams = probe_streams(&preview);
    assert_eq!(video_sizes(&streams), vec![(360, 640)], "{streams:?}");
    assert!(streams.iter().any(|s| s.0 == "audio"), "{streams:?}");
    s.stop().await;
}

/// A server stopped mid-job: the next one, on the same database and files, takes the job again
/// once the lease has run out and finishes it.
async fn restart_mid_job_retries_and_finishes(backend: Backend) {
    let data = tempfile::tempdir().unwrap();
    let Some(shared_db) = common::SharedDatabase::new(backend, data.path()).await else {
        return;
    };
    let db = shared_db.url.clone();
    let uploads = data.path().join("videos").display().to_string();
    let thumbs = data.path().join("thumbs").display().to_string();
    let shared = [
        ("DATABASE_URL", db.as_str()),
        ("UPLOAD_DIR", uploads.as_str()),
        ("THUMBNAIL_DIR", thumbs.as_str()),
        ("JOB_LEASE_SECONDS", "2"),
        ("TRANSCODING_CONCURRENCY", "1"),
    ];
    let mut slow = shared.to_vec();
    slow.push(("TRANSCODING_PRESET", "veryslow"));
    let s = TestServer::start(Backend::Sqlite, &slow).await.unwrap();
    let input = make_media(
        data.path(),
        "long.mp4",
        Some("testsrc2=size=640x360:rate=30:duration=20"),
        false,
        &[],
    );
    let video = upload(&s, &input, None, true).await;
    let id = video["id"].as_str().unwrap().to_string();
    let job_id = newest_job_id(&s, &id).await;
    let job = wait_running(&s, &job_id).await;
    assert_eq!(job["attempts"], 1);
    tokio::time::sleep(Duration::from_millis(700)).await;
    s.stop().await;

    let mut fast = shared.to_vec();
    fast.push(("TRANSCODING_PRESET", "ultrafast"));
    let s = TestServer::start(Backend::Sqlite, &fast).await.unwrap();
    let job = s.ended_job(&id, None, 0).await;
    assert_eq!(job["id"], job_id.as_str());
    assert_eq!(job["state"], "completed", "{job}");
    assert_eq!(job["attempts"], 2);
    let (_, v) = s.get(&format!("/api/videos/{id}")).await;
    assert_eq!(v["processing_status"], "completed");
    let streams = probe_streams(&s.url(v["hls_url"].as_str().unwrap()));
    assert_eq!(video_sizes(&streams), vec![(640, 360)]);
    assert!(input.exists());
    s.stop().await;
    shared_db.drop_database().await;
}

/// Out of attempts: the job fails for good, with the reason, and the original stays.
async fn lease_expiry_on_the_last_attempt_fails_the_job(backend: Backend) {
    let data = tempfile::tempdir().unwrap();
    let Some(shared_db) = common::SharedDatabase::new(backend, data.path()).await else {
        return;
    };
    let db = shared_db.url.clone();
    let uploads = data.path().join("videos").display().to_string();
    let thumbs = data.path().join("thumbs").display().to_string();
    let settings = [
        ("DATABASE_URL", db.as_str()),
        ("UPLOAD_DIR", uploads.as_str()),
        ("THUMBNAIL_DIR", thumbs.as_str()),
        ("JOB_LEASE_SECONDS", "2"),
        ("JOB_MAX_ATTEMPTS", "1"),
        ("TRANSCODING_CONCURRENCY", "1"),
        ("TRANSCODING_PRESET", "veryslow"),
    ];
    let s = TestServer::start(Backend::Sqlite, &settings).await.unwrap();
    let input = make_media(
        data.path(),
        "long.mp4",
        Some("testsrc2=size=640x360:rate=30:duration=20"),
        false,
        &[],
    );
    let video = upload(&s, &input, None, true).await;
    let id = video["id"].as_str().unwrap().to_string();
    let job_id = newest_job_id(&s, &id).await;
    wait_running(&s, &job_id).await;
    s.stop().await;

    let s = TestServer::start(Backend::Sqlite, &settings).await.unwrap();
    let job = s.ended_job(&id, None, 0).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(
        job["error"].as_str().unwrap().contains("lease expired"),
        "{job}"
    );
    let (_, v) = s.get(&format!("/api/videos/{id}")).await;
    assert_eq!(v["processing_status"], "failed");
    assert!(v["processing_error"].as_str().unwrap().contains("lease"));
    let r = s
        .http
        .get(s.url(&format!("/api/videos/{id}/file")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the original is kept");
    s.stop().await;
    shared_db.drop_database().await;
}

// The servers below run on the shared database named in their settings, whichever backend
// `TestServer::start` is given.
on_both_databases!(
    restart_mid_job_retries_and_finishes,
    lease_expiry_on_the_last_attempt_fails_the_job
);

/// Cancelling a running job stops its ffmpeg and leaves no half-written outputs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_job() {
    let s = TestServer::start(
        Backend::Sqlite,
        &[
            ("TRANSCODING_PRESET", "veryslow"),
            ("TRANSCODING_CONCURRENCY", "1"),
        ],
    )
    .await
    .unwrap();
    let input = make_media(
        s.data_dir(),
        "long.mp4",
        Some("testsrc2=size=640x360:rate=30:duration=20"),
        false,
        &[],
    );
    let video = upload(&s, &input, None, true).await;
    let id = video["id"].as_str().unwrap().to_string();
    let job_id = newest_job_id(&s, &id).await;
    wait_running(&s, &job_id).await;
    let (st, job) = s
        .delete(&format!("/api/jobs/{job_id}?uploader_id=user_vod"))
        .await;
    assert_eq!(st, 200, "{job}");
    assert_eq!(job["state"], "cancelled");
    let (st, _) = s
        .post_empty(&format!("/api/jobs/{job_id}/cancel?uploader_id=user_vod"))
        .await;
    assert_eq!(st, 409, "already cancelled");
    // The worker notices within a second and removes its scratch folder.
    let renditions = s.data_dir().join("uploads/videos/renditions");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let leftovers = std::fs::read_dir(&renditions)
            .map(|d| d.count())
            .unwrap_or(0);
        if leftovers == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ffmpeg's output folder is still there"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, job) = s.get(&format!("/api/jobs/{job_id}")).await;
    assert_eq!(job["state"], "cancelled");
    let (_, v) = s.get(&format!("/api/videos/{id}")).await;
    assert_eq!(v["processing_status"], "pending");
    assert!(v["hls_url"].is_null());
    s.stop().await;
}

/// A private video's media is served to its owner and to signed URLs only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_media_needs_a_signature() {
    let s = TestServer::start(Backend::Sqlite, FAST).await.unwrap();
    let (st, body) = s
        .post(
            "/api/auth/register",
            json!({"username": "owner", "password": "correct horse", "role": "streamer"}),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    let input = make_media(
        s.data_dir(),
        "secret.mp4",
        Some("testsrc=size=320x240:rate=25:duration=2"),
        true,
        &[],
    );
    let video = upload(&s, &input, Some(&token), false).await;
    let id = video["id"].as_str().unwrap().to_string();
    assert_eq!(
        s.ended_job(&id, Some(&token), 0).await["state"],
        "completed"
    );
    let (st, _) = s
        .get(&format!(
            "/api/jobs/{}",
            newest_job_id_auth(&s, &id, &token).await
        ))
        .await;
    assert_eq!(st, 404, "a private video's jobs are private");

    let master = format!("/api/stream/{id}/hls/playlist.m3u8");
    let (st, _) = s.get(&master).await;
    assert_eq!(st, 404);
    let (st, _) = s.get(&format!("/api/stream/{id}/dash/manifest.mpd")).await;
    assert_eq!(st, 404);
    let (st, _) = s
        .get(&format!("/api/videos/{id}/thumbnails/card.jpg"))
        .await;
    assert_eq!(st, 404);

    // The owner's view of the video carries signed URLs a player can use without the token.
    let (st, v) = s
        .send(
            s.http
                .get(s.url(&format!("/api/videos/{id}")))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(st, 200);
    let hls = v["hls_url"].as_str().unwrap();
    assert!(hls.contains("?sig="), "{hls}");
    let text = s.text(&s.url(hls)).await;
    let variant = text
        .lines()
        .find(|l| !l.starts_with('#') && l.contains(".m3u8"))
        .unwrap();
    assert!(variant.contains("?sig="), "{text}");
    let media = s
        .text(&s.url(&format!("/api/stream/{id}/hls/{variant}")))
        .await;
    let segment = media
        .lines()
        .find(|l| !l.starts_with('#') && l.contains(".m4s"))
        .unwrap();
    let bare = segment.split('?').next().unwrap();
    let (st, _) = s.get(&format!("/api/stream/{id}/hls/{bare}")).await;
    assert_eq!(st, 404, "a segment without the signature");
    let r = s
        .http
        .get(s.url(&format!("/api/stream/{id}/hls/{segment}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "private, max-age=31536000, immutable"
    );
    let tampered = hls.replace("sig=", "sig=1");
    let (st, _) = s.get(&tampered).await;
    assert_eq!(st, 404);
    // ffprobe follows the signed URIs end to end.
    let streams = probe_streams(&s.url(v["dash_url"].as_str().unwrap()));
    assert_eq!(video_sizes(&streams), vec![(320, 240)]);
    decode_all(&s.url(hls));
    let card = v["thumbnails"]["card"].as_str().unwrap();
    let r = s.http.get(s.url(card)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}

async fn newest_job_id_auth(s: &TestServer, video_id: &str, token: &str) -> String {
    let (st, jobs) = s
        .send(
            s.http
                .get(s.url(&format!("/api/videos/{video_id}/jobs")))
                .bearer_auth(token),
        )
        .await;
    assert_eq!(st, 200);
    jobs[0]["id"].as_str().unwrap().to_string()
}

/// A job that fails on its input: `failed` with ffmpeg's reason (no server paths in it), the
/// video `failed`, and the original still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_input_fails_the_job_and_keeps_the_original() {
    let s = TestServer::start(
        Backend::Sqlite,
        &[
            ("TRANSCODING_PRESET", "veryslow"),
            ("TRANSCODING_CONCURRENCY", "1"),
        ],
    )
    .await
    .unwrap();
    // The one worker is kept busy while the second upload is spoiled on disk.
    let long = make_media(
        s.data_dir(),
        "long.mp4",
        Some("testsrc2=size=640x360:rate=30:duration=20"),
        false,
        &[],
    );
    let busy = upload(&s, &long, None, true).await;
    let busy_id = busy["id"].as_str().unwrap().to_string();
    let busy_job = newest_job_id(&s, &busy_id).await;
    wait_running(&s, &busy_job).await;
    let short = common::make_video(s.data_dir(), "short.mp4", 1);
    let video = upload(&s, &short, None, true).await;
    let id = video["id"].as_str().unwrap().to_string();
    let stored = PathBuf::from(video["file_path"].as_str().unwrap());
    std::fs::write(&stored, b"no longer a video").unwrap();
    let (st, _) = s
        .post_empty(&format!("/api/jobs/{busy_job}/cancel?uploader_id=user_vod"))
        .await;
    assert_eq!(st, 200);

    let job = s.ended_job(&id, None, 0).await;
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(!error.is_empty());
    let data_dir = s.data_dir().display().to_string();
    assert!(!error.contains(&data_dir), "server paths leak: {error}");
    let (_, v) = s.get(&format!("/api/videos/{id}")).await;
    assert_eq!(v["processing_status"], "failed");
    assert_eq!(v["is_processed"], false);
    assert_eq!(v["processing_error"], error);
    assert!(v["hls_url"].is_null());
    assert!(stored.exists(), "a failure never deletes the original");
    s.stop().await;
}

/// The queue's guarantees, straight on the database: one worker per job however many race for
/// it, leases that lapse are taken over, cancels and takeovers stop the old holder, the last
/// attempt's lapse fails the job, pruning keeps recent jobs.
async fn queue_claims_leases_and_limits(backend: Backend) {
    use ferrocast::vod::jobs::{self, TranscodeParams};
    let dir = tempfile::tempdir().unwrap();
    let Some(shared) = common::SharedDatabase::new(backend, dir.path()).await else {
        return;
    };
    let db = ferrocast::db::Db::connect(&shared.url).await.unwrap();
    ferrocast::videos::store::insert(
        &db,
        &ferrocast::videos::store::NewVideo {
            id: "video_queue".into(),
            title: "t".into(),
            description: None,
            uploader_id: "u".into(),
            filename: "f.mp4".into(),
            file_path: "f.mp4".into(),
            file_size: 1,
            format: "MP4".into(),
            probe: None,
            category: None,
            tags: vec![],
            is_public: true,
        },
    )
    .await
    .unwrap();
    let params = TranscodeParams {
        profiles: vec!["360p".into()],
        hls: true,
        dash: true,
        thumbnails: true,
    };
    let job = jobs::enqueue(&db, "video_queue", &params, 3).await.unwrap();
    assert_eq!(job.state, "queued");

    let racers = (0..8).map(|i| {
        let db = db.clone();
        tokio::spawn(async move { jobs::claim(&db, &format!("w{i}"), 60).await.unwrap() })
    });
    let mut winners = Vec::new();
    for r in racers {
        if let Some(j) = r.await.unwrap() {
            winners.push(j);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one worker takes the job");
    let holder = winners[0].lease_owner.clone().unwrap();
    assert_eq!(winners[0].attempts, 1);
    assert!(
        !jobs::heartbeat(&db, &job.id, "intruder", 60, 5.0, None)
            .await
            .unwrap()
    );
    assert!(
        jobs::heartbeat(&db, &job.id, &holder, 60, 5.0, Some(9))
            .await
            .unwrap()
    );
    assert!(
        jobs::claim(&db, "late", 60).await.unwrap().is_none(),
        "the lease holds"
    );

    assert!(jobs::cancel(&db, &job.id).await.unwrap());
    assert!(
        !jobs::heartbeat(&db, &job.id, &holder, 60, 6.0, None)
            .await
            .unwrap()
    );
    assert!(!jobs::cancel(&db, &job.id).await.unwrap());
    assert!(jobs::claim(&db, "late", 60).await.unwrap().is_none());

    // A lease that lapses (0 s here) is taken over, and the first holder is out.
    let job = jobs::enqueue(&db, "video_queue", &params, 2).await.unwrap();
    let first = jobs::claim(&db, "a", 0).await.unwrap().unwrap();
    assert_eq!(first.id, job.id);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let second = jobs::claim(&db, "b", 60).await.unwrap().unwrap();
    assert_eq!((second.id.as_str(), second.attempts), (job.id.as_str(), 2));
    assert!(
        !jobs::heartbeat(&db, &job.id, "a", 60, 1.0, None)
            .await
            .unwrap()
    );
    assert!(jobs::fail(&db, &job.id, "b", "boom").await.unwrap());
    let failed = jobs::find(&db, &job.id).await.unwrap().unwrap();
    assert_eq!(
        (failed.state.as_str(), failed.error.as_deref()),
        ("failed", Some("boom"))
    );

    // The last attempt's lease lapses: failed for good, with the reason.
    let job = jobs::enqueue(&db, "video_queue", &params, 1).await.unwrap();
    jobs::claim(&db, "a", 0).await.unwrap().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(
        jobs::claim(&db, "b", 60).await.unwrap().is_none(),
        "no attempts left"
    );
    let exhausted = jobs::fail_exhausted(&db).await.unwrap();
    assert_eq!(exhausted.len(), 1);
    assert_eq!(exhausted[0].id, job.id);
    assert_eq!(exhausted[0].state, "failed");
    assert!(
        exhausted[0]
            .error
            .as_deref()
            .unwrap()
            .contains("lease expired")
    );
    assert!(!jobs::has_work(&db).await.unwrap());

    assert_eq!(
        jobs::prune(&db, 1).await.unwrap(),
        0,
        "recent jobs are kept"
    );
    assert_eq!(
        jobs::for_video(&db, "video_queue", 10).await.unwrap().len(),
        3
    );
    db.pool.close().await;
    shared.drop_database().await;
}

on_both_databases!(queue_claims_leases_and_limits);
