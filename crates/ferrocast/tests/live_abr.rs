//! The live ABR ladder end to end: ffmpeg publishes a 1280x720 stream over RTMP, the server's
//! ladder ffmpeg encodes the rungs below it, and ffprobe judges what the master playlist lists.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Backend, TestServer};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use tokio::time::{Instant, sleep, timeout};

/// Two encoders per test on a two-core machine already; one test at a time.
static SLOT: Semaphore = Semaphore::const_new(1);

const GRACE_SECS: &str = "2";

/// The shared test server, with the ladder's settings and the few reads these tests repeat.
struct Server(TestServer);

async fn start(transcoding: bool) -> Server {
    start_with(transcoding, &[]).await
}

async fn start_with(transcoding: bool, extra: &[(&'static str, &str)]) -> Server {
    let mut settings = vec![
        ("LIVE_GRACE_PERIOD", GRACE_SECS),
        ("HLS_SEGMENT_DURATION_MS", "1000"),
        (
            "ENABLE_TRANSCODING",
            if transcoding { "true" } else { "false" },
        ),
        ("ENABLE_ADAPTIVE_BITRATE", "true"),
        ("TRANSCODING_PRESET", "ultrafast"),
    ];
    settings.extend_from_slice(extra);
    Server(
        TestServer::start(Backend::Sqlite, &settings)
            .await
            .expect("server"),
    )
}

impl Server {
    async fn create_stream(&self, extra: Value) -> Value {
        let mut body = json!({"title": "ABR test", "streamer_id": "user_abr"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let (status, stream) = self.0.post("/api/streams", body).await;
        assert_eq!(status, 201, "{stream}");
        stream
    }

    async fn wait_status(&self, id: &str, status: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let (_, s) = self.0.get(&format!("/api/streams/{id}")).await;
            if s["status"] == status {
                return;
            }
            assert!(Instant::now() < deadline, "stream never {status}: {s}");
            sleep(Duration::from_millis(200)).await;
        }
    }

    fn rtmp_url(&self, stream: &Value) -> String {
        stream["rtmp_url"].as_str().expect("rtmp_url").to_string()
    }

    fn hls_url(&self, stream: &Value) -> String {
        stream["hls_url"].as_str().expect("hls_url").to_string()
    }

    async fn text(&self, url: &str) -> (u16, String) {
        let r = self.0.http.get(url).send().await.expect("GET");
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }

    fn absolute(&self, uri: &str) -> String {
        self.0.url(uri)
    }
}

/// ffmpeg publishing a 1280x720 30 fps H.264 + AAC test stream for `secs` seconds, a keyframe
/// a second.
fn publish(url: &str, secs: u32) -> Child {
    publish_sized(url, secs, "1280x720", 30)
}

fn publish_sized(url: &str, secs: u32, size: &str, fps: u32) -> Child {
    Command::new("/usr/bin/ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate={fps}"),
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440"])
        .args(["-t", &secs.to_string()])
        .args(["-c:v", "libx264", "-preset", "ultrafast"])
        .args(["-g", &fps.to_string()])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn ffmpeg")
}

/// `(attributes, uri)` of each variant of a master playlist.
fn variants(master: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = master.lines().collect();
    lines
        .windows(2)
        .filter_map(|w| {
            let attrs = w[0].strip_prefix("#EXT-X-STREAM-INF:")?;
            Some((attrs.to_string(), w[1].to_string()))
        })
        .collect()
}

fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    attrs
        .split(',')
        .find_map(|a| a.strip_prefix(name)?.strip_prefix('='))
}

/// `(msn, duration)` of every complete segment of a media playlist.
fn segments(media: &str) -> Vec<(u64, f64)> {
    let mut out = Vec::new();
    let mut duration = None;
    for line in media.lines() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            duration = d.trim_end_matches(',').parse::<f64>().ok();
        } else if let Some(name) = line.strip_prefix("seg")
            && let (Some(d), Some(msn)) = (duration.take(), name.split(".m4s").next())
        {
            out.push((msn.parse().expect("msn"), d));
        }
    }
    out
}

/// Polls the master until it lists `n` variants, then until each lists `segs` segments.
async fn wait_variants(server: &Server, master_url: &str, n: usize, segs: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, master) = server.text(master_url).await;
        if status == 200 && variants(&master).len() >= n {
            let mut ready = true;
            for (_, uri) in variants(&master) {
                let (_, media) = server.text(&server.absolute(&uri)).await;
                ready &= segments(&media).len() >= segs;
            }
            if ready {
                return master;
            }
        }
        assert!(
            Instant::now() < deadline,
            "master never listed {n} playable variants: {status} {master}"
        );
        sleep(Duration::from_millis(300)).await;
    }
}

/// Width and height of the video ffprobe finds in an HLS URL.
async fn probe_size(url: &str) -> (u32, u32) {
    let out = timeout(
        Duration::from_secs(30),
        Command::new("/usr/bin/ffprobe")
            .args(["-v", "error", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=width,height", "-of", "csv=p=0"])
            .arg(url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("ffprobe timed out")
    .expect("ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    // HLS inputs list the stream once per program; the first line is enough.
    let first = text.lines().next().unwrap_or_default();
    let mut it = first.trim().split(',').map(|v| v.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// The ladder's ffmpeg: the only child of this test process that forces keyframes.
fn ladder_pid() -> Option<u32> {
    let out = std::process::Command::new("pgrep")
        .args([
            "-P",
            &std::process::id().to_string(),
            "-f",
            "force_key_frames",
        ])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Waits until process `pid` is gone and reaped (a zombie keeps its /proc entry).
async fn wait_gone(pid: u32, within: Duration) {
    let deadline = Instant::now() + within;
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "process {pid} still exists");
        sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ladder_lists_source_and_360p_aligned() {
    let _slot = SLOT.acquire().await.expect("slot");
    let server = start(true).await;
    let stream = server.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    let mut publisher = publish(&server.rtmp_url(&stream), 8);
    server
        .wait_status(&id, "live", Duration::from_secs(15))
        .await;

    let master = wait_variants(&server, &server.hls_url(&stream), 2, 3).await;
    let vs = variants(&master);
    assert_eq!(vs.len(), 2, "source and 360p only, nothing above: {master}");
    let (src_attrs, src_uri) = &vs[0];
    let (low_attrs, low_uri) = &vs[1];
    assert!(
        src_uri.starts_with(&format!("/hls/{id}/index.m3u8?")),
        "{master}"
    );
    assert!(
        low_uri.starts_with(&format!("/hls/{id}/360p/index.m3u8?")),
        "{master}"
    );
    assert_eq!(attr(src_attrs, "RESOLUTION"), Some("1280x720"));
    assert_eq!(attr(low_attrs, "RESOLUTION"), Some("640x360"));
    for a in [src_attrs, low_attrs] {
        for name in ["BANDWIDTH", "AVERAGE-BANDWIDTH", "CODECS", "FRAME-RATE"] {
            assert!(attr(a, name).is_some(), "{name} missing: {master}");
        }
        let fps: f64 = attr(a, "FRAME-RATE").unwrap_or("0").parse().unwrap_or(0.0);
        assert!((fps - 30.0).abs() < 0.5, "{master}");
    }
    let bw = |a: &str| -> u64 { attr(a, "BANDWIDTH").unwrap_or("0").parse().unwrap_or(0) };
    assert!(bw(low_attrs) < bw(src_attrs), "{master}");

    // ffprobe sees each variant at its size.
    assert_eq!(probe_size(&server.absolute(src_uri)).await, (1280, 720));
    assert_eq!(probe_size(&server.absolute(low_uri)).await, (640, 360));

    // Same segment numbers cover the same stretch of the stream. The playlists are read one
    // after the other, so compare the numbers both list.
    let plain = |uri: &str| server.absolute(&uri.replacen("index.m3u8", "plain.m3u8", 1));
    let (_, src_media) = server.text(&plain(src_uri)).await;
    let (_, low_media) = server.text(&plain(low_uri)).await;
    let src_segs = segments(&src_media);
    let low_segs = segments(&low_media);
    let common: Vec<(f64, f64)> = src_segs
        .iter()
        .filter_map(|(m, d)| {
            low_segs
                .iter()
                .find(|(lm, _)| lm == m)
                .map(|(_, ld)| (*d, *ld))
        })
        .collect();
    assert!(
        common.len() >= 2,
        "too few common segments:\n{src_media}\n{low_media}"
    );
    for (d, ld) in &common {
        // Two frames at 30 fps.
        assert!(
            (d - ld).abs() <= 0.067,
            "segment durations differ:\n{src_media}\n{low_media}"
        );
    }
    // The rendition is never far behind: its newest segment is at most one behind the source's.
    let last = |s: &[(u64, f64)]| s.last().map_or(0, |x| x.0);
    assert!(
        last(&low_segs) + 1 >= last(&src_segs),
        "{src_media}\n{low_media}"
    );

    // When the stream ends, the ladder's ffmpeg is killed and reaped.
    let pid = ladder_pid().expect("ladder ffmpeg running");
    let _ = timeout(Duration::from_secs(20), publisher.wait()).await;
    server
        .wait_status(&id, "ended", Duration::from_secs(12))
        .await;
    wait_gone(pid, Duration::from_secs(5)).await;
}

/// Two rungs: the second comes back over the FIFO, not stdout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_1080p_gets_720p_and_360p() {
    let _slot = SLOT.acquire().await.expect("slot");
    let server = start(true).await;
    let stream = server.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    let _publisher = publish_sized(&server.rtmp_url(&stream), 6, "1920x1080", 15);
    server
        .wait_status(&id, "live", Duration::from_secs(15))
        .await;
    let master = wait_variants(&server, &server.hls_url(&stream), 3, 2).await;
    let vs = variants(&master);
    let sizes: Vec<Option<&str>> = vs.iter().map(|(a, _)| attr(a, "RESOLUTION")).collect();
    assert_eq!(
        sizes,
        [Some("1920x1080"), Some("1280x720"), Some("640x360")],
        "{master}"
    );
    assert!(vs[1].1.starts_with(&format!("/hls/{id}/720p/")), "{master}");
    assert_eq!(probe_size(&server.absolute(&vs[1].1)).await, (1280, 720));
    // Once ffmpeg writes to its FIFOs their names are gone, so a server killed outright leaves
    // no folder behind. (Tests that make ladders run one at a time.)
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .expect("temp dir")
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("ferrocast-ladder-")
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_quality_puts_its_rendition_first() {
    let _slot = SLOT.acquire().await.expect("slot");
    let server = start(true).await;
    let stream = server.create_stream(json!({"quality": "360p"})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    let _publisher = publish(&server.rtmp_url(&stream), 5);
    server
        .wait_status(&id, "live", Duration::from_secs(15))
        .await;
    let master = wait_variants(&server, &server.hls_url(&stream), 2, 1).await;
    let vs = variants(&master);
    assert!(vs[0].1.starts_with(&format!("/hls/{id}/360p/")), "{master}");
    assert!(
        vs[1].1.starts_with(&format!("/hls/{id}/index.m3u8")),
        "{master}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_transcoding_only_the_source_is_listed() {
    let _slot = SLOT.acquire().await.expect("slot");
    let server = start(false).await;
    let stream = server.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    let _publisher = publish(&server.rtmp_url(&stream), 5);
    server
        .wait_status(&id, "live", Duration::from_secs(15))
        .await;
    let master = wait_variants(&server, &server.hls_url(&stream), 1, 2).await;
    let vs = variants(&master);
    assert_eq!(vs.len(), 1, "{master}");
    assert!(
        vs[0].1.starts_with(&format!("/hls/{id}/index.m3u8")),
        "{master}"
    );
    assert_eq!(attr(&vs[0].0, "RESOLUTION"), Some("1280x720"));
    assert!(
        ladder_pid().is_none(),
        "no ladder ffmpeg without transcoding"
    );
    let (status, _) = server
        .text(&server.absolute(&format!("/hls/{id}/360p/index.m3u8")))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_ladder_leaves_the_source_playing_and_restarts_in_step() {
    let _slot = SLOT.acquire().await.expect("slot");
    let server = start(true).await;
    let stream = server.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    let _publisher = publish(&server.rtmp_url(&stream), 14);
    server
        .wait_status(&id, "live", Duration::from_secs(15))
        .await;
    let master_url = server.hls_url(&stream);
    let master = wait_variants(&server, &master_url, 2, 1).await;
    let src_uri = variants(&master)[0].1.clone();
    let low_uri = variants(&master)[1].1.clone();

    let pid = ladder_pid().expect("ladder ffmpeg running");
    let (_, before) = server.text(&server.absolute(&src_uri)).await;
    let src_at_kill = segments(&before).last().map_or(0, |s| s.0);
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    // Killed and reaped, not left a zombie.
    wait_gone(pid, Duration::from_secs(5)).await;

    // The old rendition's playlist ends and the master lists the source alone (for the two
    // seconds before a restart at the earliest).
    let deadline = Instant::now() + Duration::from_millis(1500);
    loop {
        let (_, low) = server.text(&server.absolute(&low_uri)).await;
        if low.contains("#EXT-X-ENDLIST") {
            break;
        }
        assert!(Instant::now() < deadline, "rendition did not end: {low}");
        sleep(Duration::from_millis(50)).await;
    }
    let (_, alone) = server.text(&master_url).await;
    assert_eq!(variants(&alone).len(), 1, "{alone}");

    // Then a new ffmpeg takes over.
    let deadline = Instant::now() + Duration::from_secs(10);
    let new_pid = loop {
        if let Some(p) = ladder_pid().filter(|p| *p != pid) {
            break p;
        }
        assert!(Instant::now() < deadline, "the ladder did not restart");
        sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(new_pid, pid);

    // Meanwhile the source kept going, never ended.
    let (_, now) = server.text(&server.absolute(&src_uri)).await;
    assert!(!now.contains("#EXT-X-ENDLIST"), "{now}");
    assert!(
        segments(&now).last().map_or(0, |s| s.0) > src_at_kill,
        "{now}"
    );

    // The restarted rendition is listed again and numbers its segments like the source's.
    let master = wait_variants(&server, &master_url, 2, 2).await;
    assert_eq!(
        variants(&master)[1].1.split('?').next(),
        low_uri.split('?').next()
    );
    let plain = |uri: &str| server.absolute(&uri.replacen("index.m3u8", "plain.m3u8", 1));
    let (_, src_media) = server.text(&plain(&variants(&master)[0].1)).await;
    let (_, low_media) = server.text(&plain(&variants(&master)[1].1)).await;
    let low_segs = segments(&low_media);
    assert!(low_segs[0].0 > src_at_kill, "{low_media}");
    let src_segs = segments(&src_media);
    let mut common = 0;
    for (msn, d) in &low_segs {
        if let Some((_, sd)) = src_segs.iter().find(|(m, _)| m == msn) {
            assert!((d - sd).abs() <= 0.067, "{src_media}\n{low_media}");
            common += 1;
        }
    }
    assert!(common >= 1, "{src_media}\n{low_media}");
    assert_eq!(
        probe_size(&server.absolute(&variants(&master)[1].1)).await,
        (640, 360)
    );
}

/// A publisher that drops and comes back within the grace period keeps the same ladder, and its
/// renditions keep segmenting in step with the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_publisher_keeps_the_ladder() {
    let _slot = SLOT.acquire().await.expect("slot");
    let server = start(true).await;
    let stream = server.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    let mut first = publish(&server.rtmp_url(&stream), 4);
    server
        .wait_status(&id, "live", Duration::from_secs(15))
        .await;
    let master_url = server.hls_url(&stream);
    wait_variants(&server, &master_url, 2, 1).await;
    let pid = ladder_pid().expect("ladder ffmpeg running");
    let _ = timeout(Duration::from_secs(20), first.wait()).await;

    let _second = publish(&server.rtmp_url(&stream), 6);
    sleep(Duration::from_secs(4)).await;
    assert_eq!(ladder_pid(), Some(pid), "the same ffmpeg carries on");
    let master = wait_variants(&server, &master_url, 2, 5).await;
    let plain = |uri: &str| server.absolute(&uri.replacen("index.m3u8", "plain.m3u8", 1));
    let (_, src_media) = server.text(&plain(&variants(&master)[0].1)).await;
    let (_, low_media) = server.text(&plain(&variants(&master)[1].1)).await;
    let src_segs = segments(&src_media);
    let low_segs = segments(&low_media);
    let last = |s: &[(u64, f64)]| s.last().map_or(0, |x| x.0);
    assert!(
        last(&low_segs) + 1 >= last(&src_segs),
        "{src_media}\n{low_media}"
    );
    let common = low_segs
        .iter()
        .filter(|(m, _)| src_segs.iter().any(|(sm, _)| sm == m))
        .count();
    assert!(common >= 3, "{src_media}\n{low_media}");
}

/// A private stream's renditions need the signed token the master hands out, like its source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_stream_renditions_need_the_token() {
    let _slot = SLOT.acquire().await.expect("slot");
    let server = start(true).await;
    let password = "open-sesame";
    let stream = server
        .create_stream(json!({"is_private": true, "password": password}))
        .await;
    let id = stream["id"].as_str().expect("id").to_string();
    let _publisher = publish(&server.rtmp_url(&stream), 6);
    let master_url = format!("{}?password={password}", server.hls_url(&stream));
    let master = wait_variants(&server, &master_url, 2, 1).await;
    assert!(!master.contains(password), "{master}");
    let low_uri = &variants(&master)[1].1;
    assert!(low_uri.starts_with(&format!("/hls/{id}/360p/")), "{master}");
    assert!(low_uri.contains("t="), "{master}");
    let (status, media) = server.text(&server.absolute(low_uri)).await;
    assert_eq!(status, 200);
    assert!(
        media.contains("init.mp4?") && media.contains("t="),
        "{media}"
    );
    for bare in ["index.m3u8", "init.mp4", "seg0.m4s"] {
        let (status, _) = server
            .text(&server.absolute(&format!("/hls/{id}/360p/{bare}")))
            .await;
        assert_eq!(status, 404, "{bare} served without the token");
    }
}

/// TRANSCODING_CONCURRENCY bounds the ladders of the whole server: a stream beyond it plays its
/// source alone, and gets its ladder once a slot frees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ladders_are_limited_by_transcoding_concurrency() {
    let _slot = SLOT.acquire().await.expect("slot");
    let server = start_with(true, &[("TRANSCODING_CONCURRENCY", "1")]).await;
    let a = server.create_stream(json!({})).await;
    let b = server.create_stream(json!({})).await;
    let a_id = a["id"].as_str().expect("id").to_string();
    let mut first = publish(&server.rtmp_url(&a), 5);
    server
        .wait_status(&a_id, "live", Duration::from_secs(15))
        .await;
    wait_variants(&server, &server.hls_url(&a), 2, 1).await;

    let _second = publish(&server.rtmp_url(&b), 16);
    let b_master = server.hls_url(&b);
    let master = wait_variants(&server, &b_master, 1, 2).await;
    assert_eq!(variants(&master).len(), 1, "{master}");

    // The first stream ends (publisher gone, then the grace period): its slot goes to the second.
    let _ = timeout(Duration::from_secs(20), first.wait()).await;
    server
        .wait_status(&a_id, "ended", Duration::from_secs(12))
        .await;
    let master = wait_variants(&server, &b_master, 2, 1).await;
    assert!(variants(&master)[1].1.contains("/360p/"), "{master}");
}
