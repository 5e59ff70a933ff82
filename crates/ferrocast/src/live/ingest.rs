//! RTMP ingest: accepts publishers on RTMP_SERVER_PORT (`rtmp://host:port/live/STREAM_KEY`),
//! checks the key, moves the stream live and feeds its origin. Anything wrong with one
//! connection (garbage, a refused key, a timeout) closes that connection and nothing else.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferrocast_media::flv;
use ferrocast_media::rtmp::{self, Event, MediaKind, ServerSession};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Interval, Sleep, timeout};

use super::origin::{Access, LiveStream, OriginSettings};
use super::polled_socket::PolledSocket;
use super::read_grid::ReadGrid;
use super::read_plan::ReadPlan;
use crate::models::StreamStatus;
use crate::state::AppState;
use crate::streams::{self, store};

/// The RTMP application publishers must use.
pub const APP: &str = "live";

/// Open RTMP connections at most; more are closed on accept so that a flood cannot exhaust
/// memory: each connection may buffer up to `MAX_BUFFERED` of partial messages.
const MAX_CONNECTIONS: usize = 256;

/// Largest RTMP message accepted: a 4K keyframe at a high bitrate fits with room to spare.
const MAX_MESSAGE: u32 = 16 << 20;

/// Most bytes of partially received messages one connection may hold (a little more than one
/// largest message, since audio and video interleave).
const MAX_BUFFERED: usize = 20 << 20;

/// How often a publishing connection checks that its stream is still live in the database (it
/// may have been ended through the API) and that it is within MAX_STREAM_DURATION.
const STATUS_CHECK: Duration = Duration::from_secs(2);

const READ_BUFFER: usize = 64 * 1024;

/// Reads of `READ_BUFFER` one publisher gets per tick before the others' turn (2 MB, some 500
/// Mbit/s at the grid's pace): what a flooding publisher sends beyond waits for the loop to come
/// round again.
const READS_PER_TICK: usize = 32;

/// Accepts RTMP connections until the task is dropped, and runs them on the ingest thread.
pub async fn serve(state: AppState, listener: TcpListener) {
    let ingest = match IngestThread::start() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the RTMP ingest thread; no live ingest");
            return;
        }
    };
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!(error = %e, "RTMP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "RTMP connection refused: too many open connections");
            continue;
        };
        // The socket moves to the ingest thread's own event loop.
        let socket = match socket.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "RTMP connection dropped");
                continue;
            }
        };
        let state = state.clone();
        let grid = Arc::clone(&ingest.grid);
        ingest.runtime.spawn(async move {
            let _permit = permit;
            match TcpStream::from_std(socket) {
                Ok(socket) => Connection::new(state, peer, grid).run(socket).await,
                Err(e) => tracing::warn!(%peer, error = %e, "RTMP connection dropped"),
            }
        });
    }
}

/// One thread with its own single-threaded event loop for every RTMP connection and what they
/// start. A publisher wakes the server for each message it sends, about a hundred times a
/// second; on a work-stealing pool each wake-up may also wake an idle worker to share the work,
/// which cost a sixth of ingest's CPU when measured. One thread carries hundreds of streams,
/// and the HTTP workers stay free for viewers. Dropping this stops the loop and closes every
/// connection on it.
struct IngestThread {
    runtime: tokio::runtime::Handle,
    grid: Arc<ReadGrid>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl IngestThread {
    fn start() -> std::io::Result<Self> {
        let origin = Instant::now();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let runtime = rt.handle().clone();
        let grid = Arc::new(ReadGrid::new(origin));
        runtime.spawn(Arc::clone(&grid).run());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("rtmp-ingest".into())
            .spawn(move || {
                let _ = rt.block_on(stopped);
            })?;
        Ok(Self {
            runtime,
            grid,
            _stop: stop,
        })
    }
}

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
enum End {
    #[error("the peer closed the connection")]
    Closed,
    #[error("the publisher stopped publishing")]
    Unpublished,
    #[error("nothing received within RTMP_READ_TIMEOUT")]
    Timeout,
    #[error("no publish command within RTMP_READ_TIMEOUT of connecting")]
    NoPublish,
    #[error("I/O error: {0}")]
    Io(std::io::Error),
    #[error("{0}")]
    Protocol(rtmp::Error),
    #[error("unusable media: {0}")]
    BadMedia(flv::FlvError),
    #[error("publish refused: {0}")]
    Refused(String),
    #[error("MAX_STREAM_DURATION reached")]
    MaxDuration,
    #[error("the stream was ended or deleted through the API")]
    EndedElsewhere,
}

struct Publishing {
    live: Arc<LiveStream>,
    generation: u64,
    ts_offset_ms: u64,
    deadline: Instant,
}

/// A connection's clocks: the read timeout and the periodic status check.
struct Watch {
    read_timeout: Duration,
    connected_at: Instant,
    last_read: Instant,
    /// One timer for the whole connection, re-armed only when it fires: a publisher sends dozens
    /// of reads a second, and a timer set and cancelled around each would cost more than the
    /// read. The status check does not move it, so a silent peer cannot live forever.
    idle: Pin<Box<Sleep>>,
    check: Interval,
}

enum Due {
    /// Nothing received within the read timeout.
    Silent,
    Check,
}

impl Watch {
    fn new(read_timeout: Duration) -> Self {
        let connected_at = Instant::now();
        let mut check = tokio::time::interval(STATUS_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self {
            read_timeout,
            connected_at,
            last_read: connected_at,
            idle: Box::pin(tokio::time::sleep_until(connected_at + read_timeout)),
            check,
        }
    }

    fn read(&mut self) {
        self.last_read = Instant::now();
    }

    /// Completes when the connection has been silent too long or a status check is due.
    async fn due(&mut self) -> Due {
        loop {
            tokio::select! {
                () = &mut self.idle => {
                    let deadline = self.last_read + self.read_timeout;
                    if Instant::now() >= deadline {
                        return Due::Silent;
                    }
                    self.idle.as_mut().reset(deadline);
                }
                _ = self.check.tick() => return Due::Check,
            }
        }
    }
}

struct Connection {
    state: AppState,
    peer: SocketAddr,
    session: ServerSession,
    publishing: Option<Publishing>,
    grid: Arc<ReadGrid>,
}

impl Connection {
    fn new(state: AppState, peer: SocketAddr, grid: Arc<ReadGrid>) -> Self {
        Self {
            state,
            peer,
            session: ServerSession::new(rtmp::Config {
                max_message_size: MAX_MESSAGE,
                max_buffered_bytes: MAX_BUFFERED,
                ..rtmp::Config::default()
            }),
            publishing: None,
            grid,
        }
    }

    async fn run(mut self, mut socket: TcpStream) {
        let _ = socket.set_nodelay(true);
        let mut watch = Watch::new(Duration::from_secs(self.state.config.rtmp_read_timeout));
        let end = match self.until_publishing(&mut socket, &mut watch).await {
            Some(end) => {
                let _ = socket.shutdown().await;
                end
            }
            None => match PolledSocket::new(socket) {
                Ok(socket) => self.while_publishing(socket, &mut watch).await,
                Err(e) => End::Io(e),
            },
        };
        self.close(end).await;
    }

    /// The handshake and commands, read as they arrive. `None` once publishing.
    async fn until_publishing(&mut self, socket: &mut TcpStream, watch: &mut Watch) -> Option<End> {
        let mut buf = vec![0u8; READ_BUFFER];
        loop {
            tokio::select! {
                r = socket.read(&mut buf) => {
                    let n = match r {
                        Err(e) => return Some(End::Io(e)),
                        Ok(0) => return Some(End::Closed),
                        Ok(n) => n,
                    };
                    watch.read();
                    let stop = self.take(buf.get(..n).unwrap_or_default()).await;
                    // Replies (including a refusal's onStatus) go out before any close.
                    let out = self.session.take_output();
                    if !out.is_empty() {
                        match timeout(watch.read_timeout, socket.write_all(&out)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => return Some(End::Io(e)),
                            Err(_) => return Some(End::Timeout),
                        }
                    }
                    if stop.is_some() {
                        return stop;
                    }
                    if self.publishing.is_some() {
                        return None;
                    }
                }
                due = watch.due() => {
                    if let Some(end) = self.on(due, watch).await {
                        return Some(end);
                    }
                }
            }
        }
    }

    /// Media, read on the grid's ticks until the publisher stops.
    async fn while_publishing(&mut self, mut socket: PolledSocket, watch: &mut Watch) -> End {
        let mut buf = vec![0u8; READ_BUFFER];
        // Set when a tick's reading stopped at its cap with more waiting.
        let mut behind = false;
        let mut plan = ReadPlan::new(Instant::now());
        let mut due = Instant::now();
        let end = 'connection: loop {
            tokio::select! {
                () = async {
                    if behind {
                        tokio::task::yield_now().await;
                    } else {
                        self.grid.tick_at(due).await;
                    }
                } => {
                    behind = true;
                    let mut emptied = false;
                    for _ in 0..READS_PER_TICK {
                        let n = match socket.try_read(&mut buf) {
                            Err(e) => break 'connection End::Io(e),
                            Ok(Some(0)) => break 'connection End::Closed,
                            Ok(Some(n)) => n,
                            Ok(None) => {
                                behind = false;
                                break;
                            }
                        };
                        watch.read();
                        let stop = self.take(buf.get(..n).unwrap_or_default()).await;
                        let out = self.session.take_output();
                        if let Err(e) = socket.send(&out) {
                            break 'connection End::Io(e);
                        }
                        if let Some(end) = stop {
                            break 'connection end;
                        }
                        // A read short of the buffer emptied the socket. A publisher using
                        // Nagle's algorithm (ffmpeg does) holds back what it writes until the
                        // acknowledgement such a read sends, and over loopback that arrives
                        // before the read returns: one more read takes it. A third would mostly
                        // find nothing, at a system call per publisher per tick.
                        if n < buf.len() {
                            if emptied {
                                behind = false;
                                break;
                            }
                            emptied = true;
                        }
                    }
                    if let Err(e) = socket.flush() {
                        break 'connection End::Io(e);
                    }
                    due = self.next_read(&mut plan);
                }
                due = watch.due() => {
                    if let Some(end) = self.on(due, watch).await {
                        break end;
                    }
                }
            }
        };
        socket.close();
        end
    }

    /// When to read next (see `read_plan`).
    fn next_read(&self, plan: &mut ReadPlan) -> Instant {
        let now = Instant::now();
        match &self.publishing {
            // A ladder's encoder is fed the source as it comes, so that its renditions' parts
            // close soon after the source's rather than after a burst of frames.
            Some(p) if p.live.ladder().is_none() => {
                plan.next_read(now, p.live.segmenter().next_cut())
            }
            _ => now,
        }
    }

    /// Feeds received bytes to the session and acts on what they complete.
    async fn take(&mut self, data: &[u8]) -> Option<End> {
        match self.session.feed(data) {
            Ok(events) => self.handle(events).await,
            Err(e) => Some(End::Protocol(e)),
        }
    }

    async fn on(&mut self, due: Due, watch: &Watch) -> Option<End> {
        match due {
            Due::Silent => Some(End::Timeout),
            Due::Check => {
                if let Some(end) = self.check().await {
                    return Some(end);
                }
                if self.publishing.is_none() && watch.connected_at.elapsed() > watch.read_timeout {
                    return Some(End::NoPublish);
                }
                None
            }
        }
    }

    /// Acts on the session's events; `Some` ends the connection.
    async fn handle(&mut self, events: Vec<Event>) -> Option<End> {
        let mut queue = VecDeque::from(events);
        while let Some(event) = queue.pop_front() {
            match event {
                Event::Connect { .. } => {}
                Event::Publish { app, stream_name } => {
                    match self.authorize(&app, &stream_name).await {
                        Ok(p) => {
                            self.session.accept_publish();
                            self.publishing = Some(p);
                        }
                        Err(reason) => {
                            self.session.reject_publish(&reason);
                            return Some(End::Refused(reason));
                        }
                    }
                    // The session paused at the publish command; process what arrived since.
                    match self.session.feed(&[]) {
                        Ok(more) => queue.extend(more),
                        Err(e) => return Some(End::Protocol(e)),
                    }
                }
                Event::Media {
                    kind,
                    timestamp_ms,
                    payload,
                } => {
                    if let Some(p) = &self.publishing {
                        let ts = timestamp_ms.saturating_add(p.ts_offset_ms);
                        if let Err(e) = push(p, kind, ts, &payload) {
                            return Some(End::BadMedia(e));
                        }
                    }
                }
                Event::Unpublish { .. } => return Some(End::Unpublished),
            }
        }
        None
    }

    /// Decides whether this connection may publish `key`, and if so claims the stream's origin
    /// and moves the stream live. The error is the reason the publisher is shown.
    async fn authorize(&mut self, app: &str, key: &str) -> Result<Publishing, String> {
        let peer = self.peer;
        if app != APP {
            tracing::warn!(%peer, app, "RTMP publish refused: unknown application");
            return Err(format!(
                "unknown application; publish to rtmp://host/{APP}/KEY"
            ));
        }
        if self.publishing.is_some() {
            return Err("this connection is already publishing".into());
        }
        let state = &self.state;
        // The key itself is never logged.
        let row = match store::find_by_key(&state.db, key).await {
            Ok(Some(row)) => row,
            Ok(None) => {
                tracing::warn!(%peer, "RTMP publish refused: unknown stream key");
                return Err("invalid stream key".into());
            }
            Err(e) => {
                tracing::error!(%peer, error = %e, "RTMP publish refused: stream lookup failed");
                return Err("server error".into());
            }
        };
        let stream_id = row.id.clone();
        let max = Duration::from_secs(state.config.max_stream_duration);
        let remaining = match row.status() {
            StreamStatus::Ended => {
                tracing::warn!(%peer, %stream_id, "RTMP publish refused: stream has ended");
                return Err("stream has ended; create a new stream".into());
            }
            StreamStatus::Scheduled => max,
            StreamStatus::Live => {
                let elapsed = row
                    .start_time
                    .as_deref()
                    .and_then(crate::ids::parse_time)
                    .and_then(|t| (chrono::Utc::now() - t).to_std().ok())
                    .unwrap_or_default();
                match max.checked_sub(elapsed) {
                    Some(r) if !r.is_zero() => r,
                    _ => {
                        tracing::warn!(%peer, %stream_id, "RTMP publish refused: MAX_STREAM_DURATION reached");
                        return Err("stream reached its maximum duration".into());
                    }
                }
            }
        };
        let settings = OriginSettings {
            segment_ms: state.config.hls_segment_duration_ms,
            part_ms: state.config.hls_part_duration_ms,
        };
        let Ok((live, claim)) = state.live.claim(&stream_id, &settings, Access::of(&row)) else {
            tracing::warn!(
                %peer, %stream_id,
                "RTMP publish refused: a second publisher tried the stream's key while it is being published"
            );
            return Err("stream is already being published".into());
        };
        super::transcode::attach(state, &live);
        if row.status() == StreamStatus::Scheduled
            && let Err(e) = streams::go_live(state, &row).await
        {
            state.live.end_now(&stream_id, claim.generation);
            tracing::warn!(%peer, %stream_id, error = %e, "RTMP publish refused: cannot go live");
            return Err(format!("cannot go live: {e}"));
        }
        // Generation 1 is a fresh origin rather than a reconnect to one in its grace period.
        if claim.generation == 1 {
            super::recording::start(state, &live, row.records(state));
            super::thumbnails::start(state, &live);
        }
        tracing::info!(%peer, %stream_id, generation = claim.generation, "RTMP publisher accepted");
        Ok(Publishing {
            live,
            generation: claim.generation,
            ts_offset_ms: claim.ts_offset_ms,
            deadline: Instant::now() + remaining,
        })
    }

    /// Periodic checks while publishing.
    async fn check(&mut self) -> Option<End> {
        let p = self.publishing.as_ref()?;
        if Instant::now() >= p.deadline {
            return Some(End::MaxDuration);
        }
        match store::find(&self.state.db, &p.live.stream_id).await {
            Ok(Some(row)) if row.status() == StreamStatus::Live => {
                p.live.set_access(Access::of(&row));
                None
            }
            // Ended through the API, or deleted.
            Ok(_) => Some(End::EndedElsewhere),
            // A database hiccup is no reason to cut a live stream.
            Err(_) => None,
        }
    }

    async fn close(self, end: End) {
        let peer = self.peer;
        let Some(p) = self.publishing else {
            match &end {
                End::Refused(_) => {}
                End::Protocol(_) | End::BadMedia(_) => {
                    tracing::info!(%peer, reason = %end, "RTMP connection closed")
                }
                other => tracing::debug!(%peer, reason = %other, "RTMP connection closed"),
            }
            return;
        };
        let state = self.state;
        let stream_id = p.live.stream_id.clone();
        match end {
            End::MaxDuration | End::EndedElsewhere => {
                tracing::info!(%peer, %stream_id, reason = %end, "RTMP publisher disconnected");
                if state.live.end_now(&stream_id, p.generation) {
                    end_in_database(&state, &stream_id).await;
                }
            }
            end => {
                tracing::info!(%peer, %stream_id, reason = %end, "RTMP publisher gone; waiting for a reconnect");
                p.live.disconnect(p.generation);
                let grace = Duration::from_secs(state.config.live_grace_period);
                let generation = p.generation;
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    if state.live.end_if_abandoned(&stream_id, generation) {
                        end_in_database(&state, &stream_id).await;
                    }
                });
            }
        }
    }
}

/// Feeds one media message; `ts` is on the origin's clock (a reconnecting publisher's timestamps
/// are moved past the previous one's).
fn push(p: &Publishing, kind: MediaKind, ts: u64, payload: &Bytes) -> Result<(), flv::FlvError> {
    let item = match kind {
        MediaKind::Video => flv::parse_video(ts, payload)?,
        MediaKind::Audio => flv::parse_audio(ts, payload)?,
        // Metadata carries nothing the packager needs.
        MediaKind::Data => None,
    };
    if let Some(item) = item {
        match p.live.ladder() {
            // After the push: the ladder starts where the source's segmenter starts a segment.
            Some(ladder) => {
                p.live.push(item.clone(), ts);
                ladder.feed(&p.live, kind, ts, payload, &item);
            }
            None => p.live.push(item, ts),
        }
    }
    Ok(())
}

async fn end_in_database(state: &AppState, stream_id: &str) {
    match store::find(&state.db, stream_id).await {
        Ok(Some(row)) if row.status() == StreamStatus::Live => {
            if let Err(e) = streams::finish(state, &row).await {
                tracing::warn!(%stream_id, error = %e, "could not end the stream");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(%stream_id, error = %e, "could not end the stream"),
    }
}
