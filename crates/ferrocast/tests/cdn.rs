//! A CDN in front of the server: nginx as a caching reverse proxy whose origin is the server,
//! its address (with a path of its own) in CDN_BASE_URL. Every media URL the API hands out
//! points at the CDN, ffprobe plays video on demand and live streams through it, the media
//! segments two viewers ask for are the same URLs so the second gets the CDN's cached copy, and
//! views are still counted, once per playback.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, TestServer, make_video, probe_codecs, publish};
use serde_json::{Value, json};

/// nginx caching what the server marks cacheable, under `/edge/`.
struct Cdn {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Cdn {
    fn start(port: u16, origin: SocketAddr) -> Cdn {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\nevents {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n\
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             proxy_cache_path {d}/cache keys_zone=edge:1m;\n\
             server {{\n    listen 127.0.0.1:{port};\n    location /edge/ {{\n\
             proxy_pass http://{origin}/;\n      proxy_http_version 1.1;\n\
             proxy_cache edge;\n      add_header X-Cache-Status $upstream_cache_status always;\n\
             }}\n  }}\n}}\n"
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let nginx = ["/usr/sbin/nginx", "nginx"]
            .into_iter()
            .find(|n| Command::new(n).arg("-v").output().is_ok())
            .expect("nginx must be installed for the tests (apt-get install nginx)");
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .spawn()
            .expect("start nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Cdn { child, _dir: dir }
    }
}

impl Drop for Cdn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Body and `X-Cache-Status` of a GET through the CDN.
async fn get(s: &TestServer, url: &str) -> (String, String) {
    let r = s.http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    let cache = r
        .headers()
        .get("x-cache-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (
        String::from_utf8_lossy(&r.bytes().await.unwrap()).into_owned(),
        cache,
    )
}

/// `uri` (relative or absolute) resolved against the playlist URL it was found in.
fn resolve(playlist: &str, uri: &str) -> String {
    if uri.starts_with("http") {
        uri.to_string()
    } else if uri.starts_with('/') {
        let origin_end = playlist[8..].find('/').map_or(playlist.len(), |i| i + 8);
        format!("{}{uri}", &playlist[..origin_end])
    } else {
        let dir = &playlist[..playlist.split('?').next().unwrap().rfind('/').unwrap() + 1];
        format!("{dir}{uri}")
    }
}

/// One viewer's start: the master, its first media playlist; the init and media segment URIs.
async fn start_viewer(s: &TestServer, hls_url: &str) -> (String, Vec<String>) {
    let (master, _) = get(s, hls_url).await;
    let first = master
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .expect("a variant");
    let media_url = resolve(hls_url, first.trim());
    let (media, _) = get(s, &media_url).await;
    let init = media
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .and_then(|r| r.split('"').next())
        .expect("an init segment");
    let segments = media
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| resolve(&media_url, l.trim()))
        .collect();
    (resolve(&media_url, init), segments)
}

async fn view_count(s: &TestServer, id: &str) -> i64 {
    let (st, v) = s.get(&format!("/api/videos/{id}")).await;
    assert_eq!(st, 200, "{v}");
    v["view_count"].as_i64().expect("view_count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_is_served_through_the_cdn() {
    let port = free_port();
    let edge = format!("http://127.0.0.1:{port}/edge");
    let base = format!("{edge}/");
    let settings = [
        ("ENABLE_CDN_INTEGRATION", "true"),
        ("CDN_BASE_URL", base.as_str()),
        ("TRANSCODING_PRESET", "ultrafast"),
        ("VIEW_COUNT_SECONDS", "10"),
    ];
    let s = TestServer::start(Backend::Sqlite, &settings).await.unwrap();
    let _cdn = Cdn::start(port, s.addr);

    // Video on demand: every media URL of the video is on the CDN and plays through it.
    let input = make_video(s.dir.path(), "cdn.mp4", 6);
    let v = s.upload_processed(&input, "user_cdn").await;
    let id = v["id"].as_str().unwrap();
    let hls = v["hls_url"].as_str().expect("hls_url");
    assert_eq!(hls, format!("{edge}/api/stream/{id}/hls/playlist.m3u8"));
    for key in ["dash_url", "preview_url", "thumbnail_url"] {
        assert!(v[key].as_str().unwrap().starts_with(&edge), "{key}: {v}");
    }
    let card = v["thumbnails"]["card"].as_str().unwrap();
    let r = s.http.get(card).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");

    // Two viewers: their sessions differ, their media segment URLs do not, so the second
    // viewer's segment comes out of the CDN's cache. Opening playlists counts no view.
    let (init_a, segs_a) = start_viewer(&s, hls).await;
    let (init_b, segs_b) = start_viewer(&s, hls).await;
    assert_ne!(
        init_a, init_b,
        "each viewer has a session on its init segment"
    );
    assert!(init_a.contains("s="), "{init_a}");
    assert!(
        !segs_a.is_empty() && segs_a == segs_b,
        "{segs_a:?} / {segs_b:?}"
    );
    assert!(segs_a.iter().all(|u| !u.contains("s=")), "{segs_a:?}");
    assert!(segs_a[0].starts_with(&edge), "{}", segs_a[0]);
    let (_, first) = get(&s, &segs_a[0]).await;
    let (_, second) = get(&s, &segs_b[0]).await;
    assert_eq!((first.as_str(), second.as_str()), ("MISS", "HIT"));
    assert_eq!(view_count(&s, id).await, 0);

    // A player starting to play counts one view: ffprobe through the CDN...
    let codecs = probe_codecs(hls).await;
    assert!(
        codecs.contains(&"h264".to_string()) && codecs.contains(&"aac".to_string()),
        "{codecs:?}"
    );
    assert_eq!(view_count(&s, id).await, 1);
    // ...and viewer A fetching its init segments (twice: one view still).
    get(&s, &init_a).await;
    get(&s, &init_a).await;
    assert_eq!(view_count(&s, id).await, 2);

    // Live: the stream's hls_url is on the CDN, and so is every playlist the master names.
    let stream = s.create_stream(json!({})).await;
    let sid = stream["id"].as_str().unwrap().to_string();
    let live_url = stream["hls_url"].as_str().unwrap().to_string();
    assert_eq!(live_url, format!("{edge}/hls/{sid}.m3u8"));
    let mut publisher = publish(stream["rtmp_url"].as_str().unwrap(), 20);
    let deadline = Instant::now() + Duration::from_secs(20);
    let master = loop {
        let r = s.http.get(&live_url).send().await.unwrap();
        if r.status() == 200 {
            break r.text().await.unwrap();
        }
        assert!(Instant::now() < deadline, "not live through the CDN");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let variants: Vec<&str> = master
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert!(
        !variants.is_empty() && variants.iter().all(|u| u.starts_with(&edge)),
        "{master}"
    );
    // ffprobe plays whole segments: wait (bounded) for two, through the CDN.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (media, _) = get(&s, variants[0]).await;
        if media.matches("#EXTINF").count() >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "too few segments: {media}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let codecs = probe_codecs(&live_url).await;
    assert!(codecs.contains(&"h264".to_string()), "{codecs:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, st): (u16, Value) = s.get(&format!("/api/streams/{sid}")).await;
        if let Some(t) = st["thumbnail_url"].as_str() {
            assert_eq!(t, format!("{edge}/api/streams/{sid}/thumbnail.jpg"));
            let r = s.http.get(t).send().await.unwrap();
            assert_eq!(r.status(), 200);
            break;
        }
        assert!(Instant::now() < deadline, "no live thumbnail: {st}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = publisher.kill();
    let _ = publisher.wait();
    s.stop().await;
}
