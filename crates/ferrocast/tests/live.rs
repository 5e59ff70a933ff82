//! Live ingest and LL-HLS delivery, end to end: the real server on ephemeral ports, real ffmpeg
//! publishing over RTMP, real ffprobe/ffmpeg playing the HLS it serves.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::probe_codecs;
use ferrocast::Listeners;
use ferrocast::config::{Config, Source};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::{Semaphore, SemaphorePermit, oneshot};
use tokio::time::{Instant, sleep, timeout};

/// Encoding several streams at once on a small machine would make `-re` publishers fall behind
/// real time, so at most two tests publish at a time.
static PUBLISH_SLOTS: Semaphore = Semaphore::const_new(2);

const GRACE_SECS: u64 = 3;

struct Server {
    base: String,
    http_port: u16,
    rtmp_port: u16,
    hls_port: Option<u16>,
    http: reqwest::Client,
    dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start() -> Server {
    start_with(&[], false).await
}

/// A server with extra settings, and optionally a separate HLS listener (as HLS_SERVER_PORT
/// differing from PORT gives in production).
async fn start_with(extra: &[(&'static str, &str)], hls_listener: bool) -> Server {
    let dir = std::env::temp_dir().join(format!(
        "ferrocast-live-{}-{}",
        std::process::id(),
        ferrocast::ids::secret(12)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = |p: &str| dir.join(p).display().to_string();
    let mut pairs = vec![
        ("HOST", "127.0.0.1".to_string()),
        ("PORT", "0".into()),
        ("RTMP_SERVER_PORT", "0".into()),
        ("HLS_SERVER_PORT", "0".into()),
        ("RTMP_SERVER_HOST", "127.0.0.1".into()),
        ("HLS_SERVER_HOST", "127.0.0.1".into()),
        // `sqlite:///` then an absolute path: four slashes, as SQLAlchemy-style URLs spell one.
        ("DATABASE_URL", format!("sqlite:///{}", path("db.sqlite"))),
        ("UPLOAD_DIR", path("uploads")),
        ("THUMBNAIL_DIR", path("thumbnails")),
        ("RECORDING_DIR", path("recordings")),
        ("LIVE_GRACE_PERIOD", GRACE_SECS.to_string()),
        ("RTMP_READ_TIMEOUT", "5".into()),
        ("HLS_SEGMENT_DURATION_MS", "1000".into()),
        ("LOG_LEVEL", "warn".into()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let config = Config::load(&Source::from_pairs(pairs)).expect("config");
    let mut listeners = Listeners::bind(&config).await.expect("bind");
    let mut hls_port = None;
    if hls_listener {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind hls");
        hls_port = Some(l.local_addr().expect("addr").port());
        listeners.hls = Some(l);
    }
    let http_port = listeners.http.local_addr().expect("addr").port();
    let rtmp_port = listeners.rtmp_port().expect("rtmp port");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = ferrocast::serve(config, listeners, async {
            let _ = stopped.await;
        })
        .await;
    });
    Server {
        base: format!("http://127.0.0.1:{http_port}"),
        http_port,
        rtmp_port,
        hls_port,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client"),
        dir,
        stop: Some(stop),
    }
}

impl Server {
    async fn create_stream(&self, extra: Value) -> Value {
        let mut body = json!({"title": "Live test", "streamer_id": "user_live"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let r = self
            .http
            .post(format!("{}/api/streams", self.base))
            .json(&body)
            .send()
            .await
            .expect("create stream");
        assert_eq!(r.status(), 201);
        r.json().await.expect("stream json")
    }

    async fn stream(&self, id: &str, password: Option<&str>) -> Value {
        let mut url = format!("{}/api/streams/{id}", self.base);
        if let Some(p) = password {
            url.push_str(&format!("?password={p}"));
        }
        let r = self.http.get(url).send().await.expect("get stream");
        assert_eq!(r.status(), 200);
        r.json().await.expect("stream json")
    }

    /// Waits (bounded) until the stream has `status`.
    async fn wait_status(
        &self,
        id: &str,
        password: Option<&str>,
        status: &str,
        within: Duration,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let s = self.stream(id, password).await;
            if s["status"] == status {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "stream {id} did not become {status} in {within:?}: {s}"
            );
            sleep(Duration::from_millis(200)).await;
        }
    }

    /// The stream's `rtmp_url` as the API gives it, with the ephemeral RTMP port.
    fn rtmp_url(&self, stream: &Value) -> String {
        let url = stream["rtmp_url"].as_str().expect("rtmp_url");
        url.replacen(":0/", &format!(":{}/", self.rtmp_port), 1)
    }

    /// The stream's `hls_url` pointed at this server's port.
    fn hls_url(&self, stream: &Value) -> String {
        let url = stream["hls_url"].as_str().expect("hls_url");
        url.replacen(":0/", &format!(":{}/", self.http_port), 1)
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.expect("GET")
    }

    async fn text(&self, url: &str) -> (u16, String) {
        let r = self.get(url).await;
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }

    fn absolute(&self, uri: &str) -> String {
        format!("{}{uri}", self.base)
    }
}

/// ffmpeg publishing a generated 640x360 H.264 + AAC test stream for `secs` seconds.
fn publish(url: &str, secs: u32) -> Child {
    Command::new("/usr/bin/ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440"])
        .args(["-t", &secs.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-g",
            "30",
        ])
        .args(["-c:a", "aac", "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn ffmpeg")
}

/// Waits for a publisher to exit; returns (success, stderr).
async fn exit_of(mut child: Child, within: Duration) -> (bool, String) {
    let mut stderr = child.stderr.take().expect("stderr");
    let mut err = String::new();
    let status = timeout(within, async {
        let _ = stderr.read_to_string(&mut err).await;
        child.wait().await
    })
    .await
    .expect("publisher did not exit in time")
    .expect("wait");
    (status.success(), err)
}

async fn slot() -> SemaphorePermit<'static> {
    PUBLISH_SLOTS.acquire().await.expect("semaphore")
}

/// The first URI line of a master playlist.
fn variant_uri(master: &str) -> String {
    master
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .expect("variant line")
        .to_string()
}

/// Fetches the master, then waits (bounded) until the media playlist lists `segments` segments.
async fn wait_playable(server: &Server, master_url: &str, segments: usize) -> (String, String) {
    let (status, master) = server.text(master_url).await;
    assert_eq!(status, 200, "master playlist: {master}");
    let media_url = server.absolute(&variant_uri(&master));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, media) = server.text(&media_url).await;
        assert_eq!(status, 200, "media playlist: {media}");
        if media.lines().filter(|l| l.starts_with("#EXTINF")).count() >= segments {
            return (master, media_url);
        }
        assert!(Instant::now() < deadline, "too few segments: {media}");
        sleep(Duration::from_millis(200)).await;
    }
}

/// Decodes two seconds of an HLS URL with ffmpeg.
async fn decode_two_seconds(url: &str) {
    let out = timeout(
        Duration::from_secs(40),
        Command::new("/usr/bin/ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i", url])
            .args(["-t", "2", "-f", "null", "-"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("ffmpeg decode timed out")
    .expect("ffmpeg");
    assert!(
        out.status.success(),
        "decode failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn preload_hint(media: &str) -> Option<(u64, usize)> {
    let line = media
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT"))?;
    let name = line.split("URI=\"").nth(1)?.split(['?', '"']).next()?;
    let (msn, index) = name
        .strip_prefix("part")?
        .strip_suffix(".m4s")?
        .split_once('.')?;
    Some((msn.parse().ok()?, index.parse().ok()?))
}

/// Checks a media playlist's structure and returns its media sequence number: every EXTINF
/// fits the target duration (as rounded per RFC 8216), every part fits the part target, and
/// parts and segments come after the tags that govern them.
fn validate_media_playlist(text: &str) -> u64 {
    let value = |tag: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(tag))
            .unwrap_or_else(|| panic!("missing {tag}: {text}"))
            .to_string()
    };
    assert!(text.starts_with("#EXTM3U\n"), "{text}");
    let target: f64 = value("#EXT-X-TARGETDURATION:").parse().expect("target");
    let part_target: f64 = value("#EXT-X-PART-INF:PART-TARGET=")
        .parse()
        .expect("part target");
    let sequence: u64 = value("#EXT-X-MEDIA-SEQUENCE:").parse().expect("sequence");
    let mut segments = 0;
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            let d: f64 = d.trim_end_matches(',').parse().expect("EXTINF");
            assert!(
                d > 0.0 && d.round() <= target,
                "segment of {d} s over target {target}: {text}"
            );
            segments += 1;
        }
        if let Some(rest) = line.strip_prefix("#EXT-X-PART:DURATION=") {
            let d: f64 = rest
                .split(',')
                .next()
                .and_then(|v| v.parse().ok())
                .expect("part");
            // Parts end at keyframes or at the target; allow a frame of rounding.
            assert!(
                d > 0.0 && d <= part_target + 0.05,
                "part of {d} s over {part_target}: {text}"
            );
        }
    }
    // Segment names follow the media sequence.
    let names: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("seg"))
        .filter_map(|l| l.split(".m4s").next()?.parse().ok())
        .collect();
    assert_eq!(names.len(), segments, "{text}");
    for (i, msn) in names.iter().enumerate() {
        assert_eq!(*msn, sequence + i as u64, "{text}");
    }
    sequence
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_stream_goes_live_and_plays_as_ll_hls() {
    let _slot = slot().await;
    let server = start().await;
    let stream = server.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    assert_eq!(stream["status"], "scheduled");
    let publisher = publish(&server.rtmp_url(&stream), 25);
    let live = server
        .wait_status(&id, None, "live", Duration::from_secs(15))
        .await;
    assert!(live["start_time"].is_string());

    let master_url = server.hls_url(&stream);
    assert!(
        master_url.ends_with(&format!("/hls/{id}.m3u8")),
        "{master_url}"
    );
    let r = server.get(&master_url).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/vnd.apple.mpegurl");
    assert_eq!(r.headers()["cache-control"], "no-cache");
    // Asked for as soon as the stream is live, the master answers only once the media playlist
    // it points at lists something to play.
    let first_master = r.text().await.expect("master");
    let (_, first_media) = server
        .text(&server.absolute(&variant_uri(&first_master)))
        .await;
    assert!(first_media.contains("#EXT-X-PART:"), "{first_media}");
    let (master, media_url) = wait_playable(&server, &master_url, 2).await;
    assert!(master.contains("CODECS=\"avc1."), "{master}");
    assert!(master.contains("mp4a.40.2"), "{master}");
    assert!(master.contains("RESOLUTION=640x360"), "{master}");

    // The API's second address for the master playlist.
    let (status, api_master) = server
        .text(&format!(
            "{}/api/stream/{id}/hls/playlist.m3u8",
            server.base
        ))
        .await;
    assert_eq!(status, 200);
    assert!(api_master.contains("#EXT-X-STREAM-INF"), "{api_master}");

    let (_, media) = server.text(&media_url).await;
    for tag in [
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES",
        "#EXT-X-PART-INF:PART-TARGET=",
        "#EXT-X-PART:DURATION=",
        "#EXT-X-PRELOAD-HINT:TYPE=PART",
        "#EXT-X-MAP:URI=\"init.mp4",
    ] {
        assert!(media.contains(tag), "missing {tag}: {media}");
    }

    // A blocking reload for the hinted part returns once that part exists.
    let (msn, part) = preload_hint(&media).expect("preload hint");
    let part_name = format!("part{msn}.{part}.m4s");
    let lists_part = |playlist: &str| {
        playlist
            .lines()
            .any(|l| l.starts_with("#EXT-X-PART:") && l.contains(&part_name))
    };
    assert!(
        !lists_part(&media),
        "the hinted part is already listed: {media}"
    );
    let blocking = format!("{media_url}&_HLS_msn={msn}&_HLS_part={part}");
    let (status, next) = server.text(&blocking).await;
    assert_eq!(status, 200, "{next}");
    assert!(
        lists_part(&next),
        "blocking reload returned without {part_name}: {next}"
    );
    // The part itself: immutable media.
    let part_url = server.absolute(&format!("/hls/{id}/{part_name}"));
    let r = server.get(&part_url).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap_or("")
            .contains("immutable")
    );
    assert!(!r.bytes().await.expect("part").is_empty());

    // A request far beyond the live edge is refused rather than held.
    let (status, _) = server
        .text(&format!("{media_url}&_HLS_msn={}", msn + 100))
        .await;
    assert_eq!(status, 400);

    // A segment by byte range.
    let seg_name = media
        .lines()
        .find(|l| l.starts_with("seg"))
        .and_then(|l| l.split('?').next())
        .expect("segment line")
        .to_string();
    let r = server
        .http
        .get(server.absolute(&format!("/hls/{id}/{seg_name}")))
        .header("range", "bytes=0-7")
        .send()
        .await
        .expect("range");
    assert_eq!(r.status(), 206);
    assert!(
        r.headers()["content-range"]
            .to_str()
            .unwrap_or("")
            .starts_with("bytes 0-7/")
    );
    let head = r.bytes().await.expect("bytes");
    assert_eq!(head.len(), 8);
    assert_eq!(&head[4..8], b"moof");

    // The newest whole segment leaves by splice from its sealed memory file, and it is byte for
    // byte the parts it was built from.
    let newest = media
        .lines()
        .rfind(|l| l.starts_with("seg"))
        .expect("segment line");
    let msn = newest
        .strip_prefix("seg")
        .and_then(|l| l.strip_suffix(".m4s"))
        .expect("segment name");
    let parts: Vec<&str> = media
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-PART:"))
        .filter_map(|l| l.split("URI=\"").nth(1)?.split('"').next())
        .filter(|uri| uri.starts_with(&format!("part{msn}.")))
        .collect();
    assert!(
        !parts.is_empty(),
        "the newest segment lists its parts: {media}"
    );
    let fetch = |name: String| {
        let url = server.absolute(&format!("/hls/{id}/{name}"));
        let http = server.http.clone();
        async move {
            let r = http.get(url).send().await.expect("media request");
            assert_eq!(r.status(), 200);
            r.bytes().await.expect("media body")
        }
    };
    let spliced_before = ferrocast_splice::spliced_bytes();
    let whole = fetch(newest.to_string()).await;
    assert!(
        ferrocast_splice::spliced_bytes() - spliced_before >= whole.len() as u64,
        "the segment was spliced, not copied"
    );
    let mut joined = Vec::new();
    for part in parts {
        joined.extend_from_slice(&fetch(part.to_string()).await);
    }
    assert!(whole[..] == joined[..], "segment differs from its parts");

    // The plain view has the same segments and no parts.
    let plain_url = media_url.replacen("/index.m3u8", "/plain.m3u8", 1);
    let (status, plain) = server.text(&plain_url).await;
    assert_eq!(status, 200);
    assert!(
        plain.contains("#EXTINF") && !plain.contains("#EXT-X-PART"),
        "{plain}"
    );

    // Real players: ffprobe sees H.264 + AAC, ffmpeg decodes.
    let codecs = probe_codecs(&master_url).await;
    assert!(codecs.contains(&"h264".to_string()), "{codecs:?}");
    assert!(codecs.contains(&"aac".to_string()), "{codecs:?}");
    decode_two_seconds(&master_url).await;

    // Successive blocking reloads, one per part: every playlist is well formed and the media
    // sequence never goes back.
    let mut sequence = 0;
    for _ in 0..8 {
        let (_, current) = server.text(&media_url).await;
        let seq = validate_media_playlist(&current);
        assert!(
            seq >= sequence,
            "media sequence went back: {seq} < {sequence}"
        );
        sequence = seq;
        let (msn, part) = preload_hint(&current).expect("preload hint");
        let (status, next) = server
            .text(&format!("{media_url}&_HLS_msn={msn}&_HLS_part={part}"))
            .await;
        assert_eq!(status, 200, "{next}");
        validate_media_playlist(&next);
    }

    // HLS sessions count as viewers.
    let s = server.stream(&id, None).await;
    assert!(s["viewer_count"].as_i64().unwrap_or(0) >= 1, "{s}");

    // The session rides on the media playlist URL only: the playlist itself is the same text for
    // every viewer. A second session's playlist, fetched between two identical ones of the first,
    // must be byte for byte the same.
    let (_, second_master) = server.text(&master_url).await;
    let second_url = server.absolute(&variant_uri(&second_master));
    assert_ne!(second_url, media_url, "each master opens its own session");
    let mut compared = false;
    for _ in 0..20 {
        let (_, a) = server.text(&media_url).await;
        let (_, b) = server.text(&second_url).await;
        let (_, again) = server.text(&media_url).await;
        assert!(
            a.lines()
                .filter(|l| !l.starts_with('#') || l.contains("URI="))
                .all(|l| !l.contains("s=")),
            "a session id inside the media playlist: {a}"
        );
        if a == again {
            assert_eq!(a, b, "two viewers got different media playlists");
            compared = true;
            break;
        }
    }
    assert!(
        compared,
        "the playlist never stayed still for three requests"
    );

    let (ok, err) = exit_of(publisher, Duration::from_secs(60)).await;
    assert!(ok, "publisher failed: {err}");
    let ended = server
        .wait_status(&id, None, "ended", Duration::from_secs(GRACE_SECS + 10))
        .await;
    assert!(ended["duration"].as_i64().unwrap_or(0) >= 1, "{ended}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_is_refused_and_stream_stays_scheduled() {
    let _slot = slot().await;
    let server = start().await;
    let stream = server.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    let key = stream["stream_key"].as_str().expect("key");
    let wrong = server
        .rtmp_url(&stream)
        .replace(key, "not-the-right-key-0123456789");
    let (ok, err) = exit_of(publish(&wrong, 5), Duration::from_secs(20)).await;
    assert!(!ok, "a wrong key was accepted");
    // ffmpeg shows the server's onStatus reason.
    assert!(err.contains("invalid stream key"), "{err}");
    // Wrong application, right key: refused too.
    let other_app = server.rtmp_url(&stream).replace("/live/", "/other/");
    let (ok, err) = exit_of(publish(&other_app, 5), Duration::from_secs(20)).await;
    assert!(!ok, "a wrong application was accepted");
    assert!(err.contains("unknown application"), "{err}");
    let s = server.stream(&id, None).await;
    assert_eq!(s["status"], "scheduled");
    let (status, _) = server.text(&server.hls_url(&stream)).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_publisher_is_refused_while_first_is_live() {
    let _slot = slot().await;
    let server = start().await;
    let stream = server.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    let url = server.rtmp_url(&stream);
    let mut first = publish(&url, 30);
    server
        .wait_status(&id, None, "live", Duration::from_secs(15))
        .await;
    let (_, media_url) = wait_playable(&server, &server.hls_url(&stream), 1).await;

    let (ok, err) = exit_of(publish(&url, 5), Duration::from_secs(20)).await;
    assert!(!ok, "a second publisher was accepted");
    assert!(err.contains("already being published"), "{err}");
    assert!(
        first.try_wait().expect("try_wait").is_none(),
        "the first publisher was dropped"
    );
    assert_eq!(server.stream(&id, None).await["status"], "live");
    // The first publisher's media still flows: the next segment appears.
    let (_, media) = server.text(&media_url).await;
    let (msn, _) = preload_hint(&media).expect("preload hint");
    let (status, next) = server
        .text(&format!("{media_url}&_HLS_msn={}", msn + 1))
        .await;
    assert_eq!(status, 200, "{next}");
    assert!(next.contains(&format!("seg{msn}.m4s")), "{next}");
    let _ = first.start_kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_publisher_ends_stream_after_grace_period() {
    let _slot = slot().await;
    let server = start().await;
    let stream = server.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    let mut publisher = publish(&server.rtmp_url(&stream), 60);
    server
        .wait_status(&id, None, "live", Duration::from_secs(15))
        .await;
    wait_playable(&server, &server.hls_url(&stream), 1).await;
    sleep(Duration::from_secs(1)).await;
    publisher.start_kill().expect("kill");
    let _ = timeout(Duration::from_secs(10), publisher.wait()).await;
    // Within the grace period the stream waits for a reconnect.
    assert_eq!(server.stream(&id, None).await["status"], "live");
    let ended = server
        .wait_status(&id, None, "ended", Duration::from_secs(GRACE_SECS + 10))
        .await;
    assert!(ended["end_time"].is_string(), "{ended}");
    assert!(ended["duration"].as_i64().unwrap_or(0) >= 1, "{ended}");
    let (status, _) = server.text(&server.hls_url(&stream)).await;
    assert_eq!(status, 404);
    // An ended stream cannot be published again.
    let (ok, err) = exit_of(
        publish(&server.rtmp_url(&stream), 3),
        Duration::from_secs(20),
    )
    .await;
    assert!(!ok, "an ended stream accepted a publisher");
    assert!(err.contains("stream has ended"), "{err}");
    assert_eq!(server.stream(&id, None).await["status"], "ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_rtmp_port_does_not_disturb_live_stream() {
    let _slot = slot().await;
    let server = start().await;
    let stream = server.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    let mut publisher = publish(&server.rtmp_url(&stream), 30);
    server
        .wait_status(&id, None, "live", Duration::from_secs(15))
        .await;
    let (_, media_url) = wait_playable(&server, &server.hls_url(&stream), 1).await;

    let garbage: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        vec![0xff; 4096],
        // A valid C0 then a C1 and a chunk stream of nonsense.
        std::iter::once(3u8)
            .chain((0..1536 * 3).map(|i| (i * 7 % 251) as u8))
            .collect(),
    ];
    for bytes in garbage {
        let mut sock = tokio::net::TcpStream::connect(("127.0.0.1", server.rtmp_port))
            .await
            .expect("connect");
        let _ = sock.write_all(&bytes).await;
        // The server closes such a connection (or times it out): reading ends.
        let mut buf = vec![0u8; 8192];
        let closed = timeout(Duration::from_secs(10), async {
            loop {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a garbage connection stayed open");
    }

    assert!(
        publisher.try_wait().expect("try_wait").is_none(),
        "publisher was dropped"
    );
    assert_eq!(server.stream(&id, None).await["status"], "live");
    let (_, media) = server.text(&media_url).await;
    let (msn, _) = preload_hint(&media).expect("preload hint");
    let (status, next) = server
        .text(&format!("{media_url}&_HLS_msn={}", msn + 1))
        .await;
    assert_eq!(status, 200, "{next}");
    assert!(next.contains(&format!("seg{msn}.m4s")), "{next}");
    let _ = publisher.start_kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_stream_needs_password_or_token() {
    let _slot = slot().await;
    let server = start().await;
    let password = "open-sesame";
    let stream = server
        .create_stream(json!({"is_private": true, "password": password}))
        .await;
    let id = stream["id"].as_str().expect("id").to_string();
    let mut publisher = publish(&server.rtmp_url(&stream), 30);
    server
        .wait_status(&id, Some(password), "live", Duration::from_secs(15))
        .await;
    let master_url = server.hls_url(&stream);

    let (status, _) = server.text(&master_url).await;
    assert_eq!(status, 404, "private master served without a password");
    let (status, _) = server
        .text(&format!("{master_url}?password=wrong-one"))
        .await;
    assert_eq!(status, 404, "private master served with a wrong password");

    let with_password = format!("{master_url}?password={password}");
    let (master, media_url) = wait_playable(&server, &with_password, 2).await;
    assert!(
        !master.contains(password),
        "the password leaked into the playlist: {master}"
    );
    assert!(media_url.contains("t="), "{media_url}");
    let (_, media) = server.text(&media_url).await;
    assert!(!media.contains(password), "{media}");
    assert!(media.contains("seg") && media.contains("t="), "{media}");

    // Its media may be kept by the viewer's browser but never by a shared cache.
    let init = media
        .split("URI=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("EXT-X-MAP");
    let base = &media_url[..media_url.rfind('/').expect("a path") + 1];
    let r = server.get(&format!("{base}{init}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "private, max-age=31536000, immutable"
    );

    // Without the token, the media playlist and segments are hidden, with the answer a stream
    // that is not on the air gets: nothing tells that it is live.
    let bare = server.absolute(&format!("/hls/{id}/index.m3u8"));
    let r = server.get(&bare).await;
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["detail"], "Stream is not live");
    let (status, _) = server
        .text(&server.absolute(&format!("/hls/{id}/init.mp4?t=1.00")))
        .await;
    assert_eq!(status, 404);

    let codecs = probe_codecs(&with_password).await;
    assert!(codecs.contains(&"h264".to_string()), "{codecs:?}");
    assert!(codecs.contains(&"aac".to_string()), "{codecs:?}");

    // A new password ends what the old one opened: its playback token stops working at once.
    let r = server
        .http
        .patch(server.absolute(&format!("/api/streams/{id}?streamer_id=user_live")))
        .json(&json!({"password": "a-new-one"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    let (status, _) = server.text(&media_url).await;
    assert_eq!(status, 404, "the old token still plays");
    let (status, _) = server.text(&with_password).await;
    assert_eq!(status, 404, "the old password still opens it");
    let (_, new_media) =
        wait_playable(&server, &format!("{master_url}?password=a-new-one"), 2).await;
    let (status, _) = server.text(&new_media).await;
    assert_eq!(status, 200);
    let _ = publisher.start_kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_over_max_viewers_are_refused() {
    let _slot = slot().await;
    let server = start().await;
    let stream = server.create_stream(json!({"max_viewers": 1})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    let mut publisher = publish(&server.rtmp_url(&stream), 20);
    server
        .wait_status(&id, None, "live", Duration::from_secs(15))
        .await;
    let master_url = server.hls_url(&stream);
    wait_playable(&server, &master_url, 1).await;
    let r = server.get(&master_url).await;
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("limit of 1 viewers"),
        "{body}"
    );
    assert_eq!(server.stream(&id, None).await["viewer_count"], 1);
    let _ = publisher.start_kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_reconnecting_within_grace_period_continues_the_stream() {
    let _slot = slot().await;
    let server = start_with(&[("LIVE_GRACE_PERIOD", "8")], false).await;
    let stream = server.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    let url = server.rtmp_url(&stream);
    let mut first = publish(&url, 60);
    server
        .wait_status(&id, None, "live", Duration::from_secs(15))
        .await;
    let (_, media_url) = wait_playable(&server, &server.hls_url(&stream), 2).await;
    let (_, before) = server.text(&media_url).await;
    let (msn_before, _) = preload_hint(&before).expect("preload hint");
    first.start_kill().expect("kill");
    let _ = timeout(Duration::from_secs(10), first.wait()).await;

    let second = publish(&url, 6);
    // The same playlist goes on: sequence numbers keep rising past where the first publisher
    // stopped, and the stream never left `live`.
    let wanted = msn_before + 3;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, after) = server.text(&media_url).await;
        assert_eq!(status, 200, "{after}");
        if after.contains(&format!("seg{wanted}.m4s")) {
            assert!(!after.contains("#EXT-X-ENDLIST"), "{after}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reconnect did not continue: {after}"
        );
        sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(server.stream(&id, None).await["status"], "live");
    decode_two_seconds(&server.hls_url(&stream)).await;
    let (ok, err) = exit_of(second, Duration::from_secs(40)).await;
    assert!(ok, "the reconnecting publisher failed: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_stream_duration_and_api_end_stop_the_publisher() {
    let _slot = slot().await;
    let server = start_with(&[("MAX_STREAM_DURATION", "4")], false).await;
    let stream = server.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    let publisher = publish(&server.rtmp_url(&stream), 60);
    server
        .wait_status(&id, None, "live", Duration::from_secs(15))
        .await;
    // Ended without a grace period once the limit is reached; the publisher is cut off.
    let ended = server
        .wait_status(&id, None, "ended", Duration::from_secs(15))
        .await;
    assert!(ended["duration"].as_i64().unwrap_or(0) >= 3, "{ended}");
    let (ok, _) = exit_of(publisher, Duration::from_secs(20)).await;
    assert!(!ok, "the publisher was not disconnected");

    // Ending through the API disconnects the publisher too.
    let server = start().await;
    let stream = server.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    let publisher = publish(&server.rtmp_url(&stream), 60);
    server
        .wait_status(&id, None, "live", Duration::from_secs(15))
        .await;
    wait_playable(&server, &server.hls_url(&stream), 1).await;
    let r = server
        .http
        .post(format!(
            "{}/api/streams/{id}/end?streamer_id=user_live",
            server.base
        ))
        .send()
        .await
        .expect("end");
    assert_eq!(r.status(), 200);
    let (ok, _) = exit_of(publisher, Duration::from_secs(20)).await;
    assert!(!ok, "the publisher was not disconnected");
    let (status, _) = server.text(&server.hls_url(&stream)).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_listener_serves_the_same_app() {
    let server = start_with(&[], true).await;
    let port = server.hls_port.expect("hls port");
    let stream = server.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id");
    let r = server
        .get(&format!("http://127.0.0.1:{port}/hls/{id}.m3u8"))
        .await;
    // Served by the live routes (the stream exists but is not live), not unknown to the server.
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["detail"], "Stream is not live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_publisher_times_out_and_the_stream_ends() {
    let _slot = slot().await;
    let server = start().await;
    let stream = server.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    let mut publisher = publish(&server.rtmp_url(&stream), 60);
    server
        .wait_status(&id, None, "live", Duration::from_secs(15))
        .await;
    wait_playable(&server, &server.hls_url(&stream), 1).await;
    // Freeze the publisher: its socket stays open but goes silent.
    let pid = publisher.id().expect("pid").to_string();
    let stopped = Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .await
        .expect("kill -STOP");
    assert!(stopped.success());
    // RTMP_READ_TIMEOUT (5 s) then the grace period.
    let ended = server
        .wait_status(&id, None, "ended", Duration::from_secs(5 + GRACE_SECS + 10))
        .await;
    assert!(ended["duration"].as_i64().unwrap_or(0) >= 1, "{ended}");
    let _ = publisher.start_kill();
}

/// One RTMP message in a single chunk (the client has raised its chunk size past every body).
fn rtmp_message(out: &mut Vec<u8>, csid: u8, type_id: u8, stream_id: u32, body: &[u8]) {
    let len = u32::try_from(body.len()).expect("body length");
    out.push(csid);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(type_id);
    out.extend_from_slice(&stream_id.to_le_bytes());
    out.extend_from_slice(body);
}

/// What a publisher sends up to and including `publish` for `key`: a handshake that does not
/// wait for the server's, a 1 MiB chunk size, connect, createStream and publish.
fn rtmp_publish_request(key: &str) -> Vec<u8> {
    use ferrocast_media::rtmp::amf0::{self, Amf0Value};
    let amf = |values: &[Amf0Value]| {
        let mut body = Vec::new();
        for v in values {
            amf0::encode(&mut body, v);
        }
        body
    };
    let text = |s: &str| Amf0Value::String(s.into());
    let mut out = vec![3u8];
    out.extend(vec![0u8; 1536 * 2]);
    rtmp_message(&mut out, 2, 1, 0, &(1u32 << 20).to_be_bytes());
    let app = Amf0Value::Object(vec![("app".into(), text("live"))]);
    rtmp_message(
        &mut out,
        3,
        20,
        0,
        &amf(&[text("connect"), Amf0Value::Number(1.0), app]),
    );
    let create = [
        text("createStream"),
        Amf0Value::Number(2.0),
        Amf0Value::Null,
    ];
    rtmp_message(&mut out, 3, 20, 0, &amf(&create));
    let publish = [
        text("publish"),
        Amf0Value::Number(0.0),
        Amf0Value::Null,
        text(key),
        text("live"),
    ];
    rtmp_message(&mut out, 8, 20, 1, &amf(&publish));
    out
}

/// A publisher that floods the server and then sends garbage is read no faster than the others
/// allow and then cut off, while another stream on the same ingest thread keeps publishing parts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_then_garbled_publisher_is_cut_off_alone() {
    let _slot = slot().await;
    let server = start().await;
    let steady = server.create_stream(json!({})).await;
    let steady_id = steady["id"].as_str().expect("id").to_string();
    let mut publisher = publish(&server.rtmp_url(&steady), 60);
    server
        .wait_status(&steady_id, None, "live", Duration::from_secs(15))
        .await;
    let (_, media_url) = wait_playable(&server, &server.hls_url(&steady), 1).await;
    // Each blocking reload for the hinted part answers with the part listed.
    let parts_keep_coming = |rounds: usize| {
        let (server, media_url) = (&server, &media_url);
        async move {
            for _ in 0..rounds {
                let (_, current) = server.text(media_url).await;
                let (msn, part) = preload_hint(&current).expect("preload hint");
                let (status, next) = server
                    .text(&format!("{media_url}&_HLS_msn={msn}&_HLS_part={part}"))
                    .await;
                assert_eq!(status, 200, "{next}");
                assert!(next.contains(&format!("part{msn}.{part}.m4s")), "{next}");
            }
        }
    };

    let hostile = server.create_stream(json!({})).await;
    let hostile_id = hostile["id"].as_str().expect("id").to_string();
    let rtmp_url = server.rtmp_url(&hostile);
    let key = rtmp_url.rsplit('/').next().expect("key");
    let socket = tokio::net::TcpStream::connect(("127.0.0.1", server.rtmp_port))
        .await
        .expect("connect");
    let (mut from_server, mut to_server) = socket.into_split();
    // Whatever the server says is drained; the task ends when it closes the connection.
    let closed = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while matches!(from_server.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    to_server
        .write_all(&rtmp_publish_request(key))
        .await
        .expect("publish request");
    server
        .wait_status(&hostile_id, None, "live", Duration::from_secs(15))
        .await;

    // Script data messages of 512 KiB, as fast as the server takes them.
    let mut data = Vec::new();
    rtmp_message(&mut data, 5, 18, 1, &vec![0x05; 512 * 1024]);
    let flood = tokio::spawn(async move {
        let mut sent = 0usize;
        let until = Instant::now() + Duration::from_secs(6);
        while Instant::now() < until && to_server.write_all(&data).await.is_ok() {
            sent += data.len();
        }
        (to_server, sent)
    });
    parts_keep_coming(6).await;
    let (mut to_server, sent) = flood.await.expect("flood");
    assert!(
        sent > 64 << 20,
        "the server took only {sent} bytes of the flood"
    );

    // Garbage where the next message header should be: that connection alone is closed.
    let _ = to_server.write_all(&[0xff; 4096]).await;
    timeout(Duration::from_secs(10), closed)
        .await
        .expect("the garbled connection stayed open")
        .expect("reader");
    server
        .wait_status(
            &hostile_id,
            None,
            "ended",
            Duration::from_secs(GRACE_SECS + 10),
        )
        .await;
    assert_eq!(server.stream(&steady_id, None).await["status"], "live");
    parts_keep_coming(3).await;
    assert!(
        publisher.try_wait().expect("try_wait").is_none(),
        "the steady publisher was dropped"
    );
    let _ = publisher.start_kill();
}
