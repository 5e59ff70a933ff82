//! Views counted from playback: a processed video is fetched the way HLS and DASH players fetch
//! it, and `view_count` moves once per playback session, only after VIEW_COUNT_SECONDS of media
//! (or the whole of a shorter video) were delivered, whatever the retries, renditions, byte
//! ranges and parallel requests.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, TestServer, make_video};

const SETTINGS: &[(&str, &str)] = &[
    ("TRANSCODING_PRESET", "ultrafast"),
    ("TRANSCODING_CONCURRENCY", "2"),
    ("VIEW_COUNT_SECONDS", "10"),
];

async fn view_count(s: &TestServer, id: &str) -> i64 {
    let (st, v) = s.get(&format!("/api/videos/{id}")).await;
    assert_eq!(st, 200, "{v}");
    v["view_count"].as_i64().expect("view_count")
}

async fn text(s: &TestServer, url: &str) -> (String, String) {
    let r = s.http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    let cache = r.headers()["cache-control"].to_str().unwrap().to_string();
    (r.text().await.unwrap(), cache)
}

/// GET of a media file; the status.
async fn fetch(s: &TestServer, url: &str) -> u16 {
    let r = s.http.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    r.bytes().await.unwrap();
    status
}

/// The URIs of an HLS playlist: URI lines and `URI="..."` attributes.
fn m3u8_uris(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !line.starts_with('#') {
            out.push(line.to_string());
        } else if let Some((_, rest)) = line.split_once("URI=\"") {
            out.push(rest.split('"').next().unwrap().to_string());
        }
    }
    out
}

fn session_of(uri: &str) -> &str {
    uri.split_once("s=").expect("a session in the URI").1
}

/// What an HLS player fetches: the master, one video and the audio playlist; their segment URLs
/// by number (1-based), absolute.
struct HlsPlayback {
    session: String,
    video: Vec<String>,
    audio: Vec<String>,
    init: String,
}

async fn start_hls(s: &TestServer, id: &str) -> HlsPlayback {
    let base = s.url(&format!("/api/stream/{id}/hls/"));
    let (master, cache) = text(s, &format!("{base}playlist.m3u8")).await;
    assert_eq!(
        cache, "private, max-age=10",
        "a master names one viewer's session"
    );
    let playlists = m3u8_uris(&master);
    assert!(
        playlists.len() >= 2,
        "a video and an audio playlist: {master}"
    );
    let session = session_of(&playlists[0]).to_string();
    assert!(
        playlists.iter().all(|u| session_of(u) == session),
        "{master}"
    );
    // The audio rendition is an attribute of its EXT-X-MEDIA line, the video variants are lines.
    let audio_list = m3u8_uris(
        master
            .lines()
            .find(|l| l.starts_with("#EXT-X-MEDIA:TYPE=AUDIO"))
            .expect("an audio rendition"),
    );
    let video_list = master
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .expect("a video variant");
    let mut init = String::new();
    let mut lists = Vec::new();
    for p in [video_list, audio_list[0].as_str()] {
        let (media, _) = text(s, &format!("{base}{p}")).await;
        let uris = m3u8_uris(&media);
        assert!(uris.iter().all(|u| session_of(u) == session), "{media}");
        init = format!(
            "{base}{}",
            uris.iter().find(|u| u.starts_with("init-")).unwrap()
        );
        lists.push(
            uris.iter()
                .filter(|u| u.starts_with("seg-"))
                .map(|u| format!("{base}{u}"))
                .collect::<Vec<_>>(),
        );
    }
    let (video, audio) = (lists.remove(0), lists.remove(0));
    HlsPlayback {
        session,
        video,
        audio,
        init,
    }
}

async fn counts_once_per_session(backend: Backend) {
    let Some(s) = TestServer::start(backend, SETTINGS).await else {
        return;
    };
    let input = make_video(s.data_dir(), "long.mp4", 14);
    let v = s.upload_processed(&input, "user_views").await;
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["view_count"], 0);

    let p = start_hls(&s, &id).await;
    assert_eq!(
        p.video.len(),
        4,
        "4 s segments of a 14 s video: {:?}",
        p.video
    );
    assert_eq!(p.audio.len(), 4, "{:?}", p.audio);
    assert_eq!(fetch(&s, &p.init).await, 200);
    assert_eq!(fetch(&s, &p.video[0]).await, 200);
    assert_eq!(fetch(&s, &p.video[1]).await, 200);
    assert_eq!(view_count(&s, &id).await, 0, "8 s delivered, 10 needed");

    // The same 8 seconds again: retries, parallel byte ranges, the audio of the same stretch.
    let mut again = Vec::new();
    for url in p.video[..2].iter().chain(&p.audio[..2]) {
        for range in ["bytes=0-99", "bytes=100-", "bytes=-50"] {
            again.push(s.http.get(url).header("Range", range).send());
        }
        again.push(s.http.get(url).send());
    }
    for r in futures_util::future::join_all(again).await {
        assert!(r.unwrap().status().is_success());
    }
    assert_eq!(view_count(&s, &id).await, 0, "no new media, no view");

    // Requests that bring no media to this session: HEAD, no session, a forged signature, another
    // session id under this one's signature.
    let third = &p.video[2];
    let r = s.http.head(third).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let bare = third.split('?').next().unwrap();
    assert_eq!(fetch(&s, bare).await, 200);
    let forged = third.replace(&p.session, &format!("{}x", &p.session));
    assert_eq!(fetch(&s, &forged).await, 200, "a bad session still plays");
    let (sid, sig) = p.session.split_once('.').unwrap();
    let first = if sid.starts_with('Z') { 'Y' } else { 'Z' };
    let swapped = third.replace(&p.session, &format!("{first}{}.{sig}", &sid[1..]));
    assert_eq!(fetch(&s, &swapped).await, 200);
    assert_eq!(view_count(&s, &id).await, 0);

    // The third segment takes the session to 12 s: one view.
    assert_eq!(fetch(&s, third).await, 200);
    assert_eq!(view_count(&s, &id).await, 1);
    let mut rest = Vec::new();
    for url in p.video.iter().chain(&p.audio) {
        rest.push(s.http.get(url).send());
        rest.push(s.http.get(url).header("Range", "bytes=0-0").send());
    }
    for r in futures_util::future::join_all(rest).await {
        assert!(r.unwrap().status().is_success());
    }
    assert_eq!(view_count(&s, &id).await, 1, "a session counts once");

    // A second session, through DASH, fetching its first 12 s all at once: a second view.
    let base = s.url(&format!("/api/stream/{id}/dash/"));
    let (mpd, cache) = text(&s, &format!("{base}manifest.mpd")).await;
    assert_eq!(cache, "private, max-age=10");
    let template = mpd
        .split("media=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("a segment template")
        .replace("&amp;", "&");
    let dash_session = session_of(&template).to_string();
    assert_ne!(dash_session, p.session);
    let urls: Vec<String> = (1..=3)
        .map(|n| {
            format!(
                "{base}{}",
                template
                    .replace("$RepresentationID$", "0")
                    .replace("$Number%05d$", &format!("{n:05}"))
            )
        })
        .collect();
    let got = futures_util::future::join_all(urls.iter().map(|u| s.http.get(u).send())).await;
    for r in got {
        assert_eq!(r.unwrap().status(), 200);
    }
    assert_eq!(view_count(&s, &id).await, 2);
    for u in &urls {
        assert_eq!(fetch(&s, u).await, 200);
    }
    assert_eq!(view_count(&s, &id).await, 2);

    // Reloading the master with its session keeps that session: no third view from it.
    let (master, _) = text(
        &s,
        &s.url(&format!(
            "/api/stream/{id}/hls/playlist.m3u8?s={}",
            p.session
        )),
    )
    .await;
    assert!(master.contains(&p.session), "{master}");

    // The seed's explicit view call still counts once per viewer per day, on top.
    let (st, body) = s.post_empty(&format!("/api/videos/{id}/view")).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        (body["counted"].as_bool(), body["view_count"].as_i64()),
        (Some(true), Some(3))
    );
    let (_, body) = s.post_empty(&format!("/api/videos/{id}/view")).await;
    assert_eq!(
        (body["counted"].as_bool(), body["view_count"].as_i64()),
        (Some(false), Some(3))
    );

    // A clip shorter than the threshold counts once all of it has been delivered.
    let short = make_video(s.data_dir(), "short.mp4", 3);
    let v = s.upload_processed(&short, "user_views").await;
    let short_id = v["id"].as_str().unwrap().to_string();
    let p = start_hls(&s, &short_id).await;
    assert_eq!(p.video.len(), 1, "{:?}", p.video);
    assert_eq!(view_count(&s, &short_id).await, 0);
    assert_eq!(fetch(&s, &p.video[0]).await, 200);
    assert_eq!(view_count(&s, &short_id).await, 1);
    assert_eq!(fetch(&s, &p.audio[0]).await, 200);
    assert_eq!(view_count(&s, &short_id).await, 1);
    assert_eq!(
        view_count(&s, &id).await,
        3,
        "sessions belong to their video"
    );
    s.stop().await;
}

/// VIEW_COUNT_SECONDS=0: no sessions in the URIs (so they stay cacheable), no views from playback.
async fn zero_counts_nothing_from_playback(backend: Backend) {
    let mut settings = SETTINGS.to_vec();
    settings.retain(|(k, _)| *k != "VIEW_COUNT_SECONDS");
    settings.push(("VIEW_COUNT_SECONDS", "0"));
    let Some(s) = TestServer::start(backend, &settings).await else {
        return;
    };
    let input = make_video(s.data_dir(), "clip.mp4", 3);
    let v = s.upload_processed(&input, "user_views").await;
    let id = v["id"].as_str().unwrap().to_string();
    let base = s.url(&format!("/api/stream/{id}/hls/"));
    let (master, cache) = text(&s, &format!("{base}playlist.m3u8")).await;
    assert_eq!(cache, "public, max-age=10");
    let playlists = m3u8_uris(&master);
    assert!(playlists.iter().all(|u| !u.contains('?')), "{master}");
    for p in &playlists {
        let (media, _) = text(&s, &format!("{base}{p}")).await;
        for u in m3u8_uris(&media) {
            assert!(!u.contains('?'), "{media}");
            assert_eq!(fetch(&s, &format!("{base}{u}")).await, 200);
        }
    }
    assert_eq!(view_count(&s, &id).await, 0);
    s.stop().await;
}

on_both_databases!(counts_once_per_session, zero_counts_nothing_from_playback);

/// A private video: the URIs carry the signature and the session together, and its views count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_videos_count_through_signed_uris() {
    let s = TestServer::start(Backend::Sqlite, SETTINGS).await.unwrap();
    let (st, body) = s
        .post(
            "/api/auth/register",
            serde_json::json!({"username": "owner", "password": "correct horse", "role": "streamer"}),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    let input = make_video(s.data_dir(), "private.mp4", 3);
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(std::fs::read(&input).unwrap())
                .file_name("private.mp4"),
        )
        .text("is_public", "false");
    let req = s.http.post(s.url("/api/videos/upload")).bearer_auth(&token);
    let (st, v) = s.send(req.multipart(form)).await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let owner_view = async || {
        let req = s
            .http
            .get(s.url(&format!("/api/videos/{id}")))
            .bearer_auth(&token);
        s.send(req).await.1
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    let v = loop {
        let v = owner_view().await;
        if v["processing_status"] == "completed" {
            break v;
        }
        assert_ne!(v["processing_status"], "failed", "{v}");
        assert!(Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let base = s.url(&format!("/api/stream/{id}/hls/"));
    let (master, _) = text(&s, &s.url(v["hls_url"].as_str().unwrap())).await;
    let variant = master
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap();
    assert!(
        variant.contains("?sig=") && variant.contains("&s="),
        "{master}"
    );
    let (media, _) = text(&s, &format!("{base}{variant}")).await;
    let segments: Vec<String> = m3u8_uris(&media)
        .into_iter()
        .filter(|u| u.starts_with("seg-"))
        .collect();
    assert_eq!(segments.len(), 1, "{media}");
    assert_eq!(owner_view().await["view_count"], 0);
    assert_eq!(fetch(&s, &format!("{base}{}", segments[0])).await, 200);
    assert_eq!(owner_view().await["view_count"], 1);
    s.stop().await;
}
