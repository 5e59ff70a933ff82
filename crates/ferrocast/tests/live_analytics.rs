//! Analytics of a live stream count what players were actually sent: a real publisher, real
//! segment fetches, and the samples taken every VIEWER_UPDATE_INTERVAL.

mod common;

use std::time::Duration;

use common::{Backend, TestServer, publish};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_measure_viewers_and_bandwidth() {
    let s = TestServer::start(
        Backend::Sqlite,
        &[
            ("VIEWER_UPDATE_INTERVAL", "1"),
            ("HLS_SEGMENT_DURATION_MS", "1000"),
        ],
    )
    .await
    .unwrap();
    let stream = s.create_stream(json!({})).await;
    let id = stream["id"].as_str().unwrap().to_string();
    let mut ffmpeg = publish(stream["rtmp_url"].as_str().unwrap(), 30);

    // A player: the master once, then the media playlist and its newest segment, repeatedly.
    let master_url = stream["hls_url"].as_str().unwrap().to_string();
    let mut master = String::new();
    for _ in 0..150 {
        if let Ok(r) = s.http.get(&master_url).send().await
            && r.status() == 200
        {
            master = r.text().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let variant = master
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .expect("a variant in the master playlist");
    let media_url = s.url(variant);
    let mut fetched: u64 = 0;
    let until = tokio::time::Instant::now() + Duration::from_secs(4);
    while tokio::time::Instant::now() < until {
        let playlist = s
            .http
            .get(&media_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        fetched += playlist.len() as u64;
        if let Some(seg) = playlist.lines().rev().find(|l| l.starts_with("seg")) {
            let base = media_url.rsplit_once('/').unwrap().0;
            let body = s
                .http
                .get(format!("{base}/{seg}"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            fetched += body.len() as u64;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        fetched > 100_000,
        "the player fetched media ({fetched} bytes)"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The platform's dashboard adds up the live streams: this one is all there is.
    let (_, stats) = s.get("/api/stats").await;
    let (st, samples) = s.get(&format!("/api/streams/{id}/analytics?hours=1")).await;
    let _ = ffmpeg.kill();
    let _ = ffmpeg.wait();
    assert_eq!(st, 200);
    let samples = samples.as_array().unwrap().clone();
    assert!(samples.len() >= 2, "{samples:?}");
    let peak = samples
        .iter()
        .map(|x| x["bandwidth_usage"].as_f64().unwrap())
        .fold(0.0, f64::max);
    // The player pulled roughly a 1.3 Mbit/s stream plus playlists: the rate must show it, and
    // it cannot exceed what was fetched over the watched seconds by much.
    assert!(
        peak > 100.0,
        "bandwidth_usage stayed near zero: {samples:?}"
    );
    let ceiling = fetched as f64 * 8.0 / 1000.0; // everything in one second
    assert!(
        peak < ceiling,
        "bandwidth_usage {peak} kbit/s above what was sent"
    );
    assert!(
        samples
            .iter()
            .any(|x| x["viewer_count"].as_i64().unwrap() >= 1),
        "{samples:?}"
    );
    let newest = samples.last().unwrap()["bandwidth_usage"].as_f64().unwrap();
    let total = stats["live_bandwidth_kbps"].as_i64().unwrap() as f64;
    assert!(
        total > 100.0 && (total - newest).abs() <= newest * 0.5 + 1.0,
        "live_bandwidth_kbps {total} against the newest sample's {newest}: {stats}"
    );
    assert_eq!(stats["current_viewers"], 1, "the player's session: {stats}");
    s.stop().await;
}
