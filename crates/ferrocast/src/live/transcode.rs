//! The live ABR ladder: one ffmpeg per live stream, fed the source's FLV tags on its stdin,
//! encoding the rungs [`ladder::plan`] picks, whose FLV outputs are demuxed back into one
//! [`Segmenter`] per rendition, next to the source's in the same origin.
//!
//! Outputs: the first rendition comes back on ffmpeg's stdout; any further one on a named pipe
//! (FIFO) in a private temporary folder, because a child can only be handed extra inherited
//! descriptors with unsafe code. One process decodes the source once and scales and encodes it
//! once per rung; the CPU is almost all x264's, roughly what the rungs would cost as separate
//! processes minus one decode each (`bench/live-abr/`: about a fifth of a core for 360p from a
//! 720p30 source at the default `fast` preset).
//!
//! The ladder never slows the source: tags reach ffmpeg through a bounded queue that ingest only
//! ever `try_send`s into. If ffmpeg falls behind (the queue fills), crashes, or writes something
//! unreadable, that ffmpeg is killed and reaped, the renditions' playlists end and the master
//! lists the source alone. A new ffmpeg starts (after a short pause, at most [`MAX_RUNS`] in a
//! stream) at the next keyframe that starts a source segment, and its renditions number their
//! segments from that segment's number, so they line up with the source again.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{BufMut, Bytes, BytesMut};
use ferrocast_media::flv::{self, FlvReader, MediaItem, Track, VideoCodec};
use ferrocast_media::hls::{Segmenter, SegmenterConfig, Variant};
use ferrocast_media::rtmp::MediaKind;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ladder::{self, Encoding};
use super::origin::{LiveStream, lock};
use super::window::Window;
use crate::config::Config;
use crate::models::Quality;
use crate::state::AppState;

/// Tags waiting for ffmpeg's stdin: several seconds of a 30 fps stream with audio. A full queue
/// means the encoder cannot keep up with real time.
const QUEUE_TAGS: usize = 512;

/// Bytes waiting for ffmpeg's stdin, whatever the tag count: a few seconds of a high-bitrate
/// source, and a bound on what a hostile publisher's huge tags can pin.
const QUEUE_BYTES: usize = 32 << 20;

/// Largest FLV tag accepted back from ffmpeg (same as ingest's largest RTMP message).
const MAX_OUTPUT_TAG: u32 = 16 << 20;

/// How long a master playlist request waits for a just-started ladder's first output, so that
/// the first viewers get the whole ladder and not the source alone.
const START_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Audio bits added to a rung's configured video rate before its segments can be measured.
const AUDIO_ALLOWANCE: u64 = 128_000;

/// Lines of ffmpeg's stderr logged per process.
const STDERR_LINES: usize = 20;

/// ffmpeg processes a stream may use: the first and three restarts.
const MAX_RUNS: u32 = 4;

/// Pause after a failure before a restart, so a crash loop does not eat the CPU.
const RESTART_DELAY: std::time::Duration = std::time::Duration::from_secs(2);

/// When every ladder slot is taken, how long before a stream looks for a free one again.
const BUSY_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// ffmpeg ladders running in the whole server, at most TRANSCODING_CONCURRENCY: each costs
/// a fair share of a core or more, and too many would starve the sources' ingest and delivery.
#[derive(Default)]
pub struct LadderSlots(AtomicUsize);

impl LadderSlots {
    fn take(self: &Arc<Self>, max: u32) -> Option<Slot> {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(Slot(self.clone()))
    }
}

/// One ladder slot, given back on drop.
struct Slot(Arc<LadderSlots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Gives `live` a ladder when transcoding is on and ffmpeg is available. Called on every
/// publish; a reconnect keeps the ladder it already has.
pub fn attach(state: &AppState, live: &LiveStream) {
    let c = &state.config;
    if !(c.enable_transcoding && c.enable_adaptive_bitrate) {
        return;
    }
    let Some(ffmpeg) = state.tools.ffmpeg.clone() else {
        tracing::warn!(stream_id = %live.stream_id, "ENABLE_TRANSCODING is on but ffmpeg was not found; serving the source only");
        return;
    };
    let segmenter = live.segmenter().config().clone();
    live.ladder.get_or_init(|| {
        Arc::new(Ladder {
            stream_id: live.stream_id.clone(),
            config: state.config.clone(),
            ffmpeg,
            segmenter,
            slots: state.live.ladder_slots.clone(),
            feed: Mutex::new(Feed {
                state: State::Idle { not_before: None },
                video: None,
                audio: None,
                runs: 0,
            }),
            renditions: Mutex::new(Vec::new()),
            cancel: CancellationToken::new(),
            stopping: Arc::new(AtomicBool::new(false)),
            fps: Mutex::new(FrameRate::default()),
        })
    });
}

/// One stream's ladder.
pub struct Ladder {
    stream_id: String,
    config: Arc<Config>,
    ffmpeg: PathBuf,
    segmenter: SegmenterConfig,
    slots: Arc<LadderSlots>,
    feed: Mutex<Feed>,
    /// The current run's renditions.
    renditions: Mutex<Vec<Arc<Rendition>>>,
    /// Cancelled when the stream ends; each run's token is a child of it.
    cancel: CancellationToken,
    /// Set when the stream ends, so that the supervisor does not take the exit it caused for a
    /// failure.
    stopping: Arc<AtomicBool>,
    fps: Mutex<FrameRate>,
}

struct Feed {
    state: State,
    /// The source's latest decoder configurations, as tags (a restarted encoder needs them).
    video: Option<(Bytes, u32)>,
    audio: Option<Bytes>,
    /// ffmpeg processes started so far.
    runs: u32,
}

enum State {
    /// Waiting for a keyframe that starts one of the source's segments (and, after a failure,
    /// for the restart delay).
    Idle {
        not_before: Option<Instant>,
    },
    Running(Run),
    Off,
}

/// One ffmpeg process: its input queue and what stops it.
#[derive(Clone)]
struct Run {
    id: u32,
    tx: mpsc::Sender<Bytes>,
    queued: Arc<AtomicUsize>,
    cancel: CancellationToken,
}

impl Ladder {
    /// Hands one source tag (as received, timestamp after the reconnect offset), already pushed
    /// into `live`'s segmenter, to the encoder. Never blocks.
    pub fn feed(
        self: &Arc<Self>,
        live: &LiveStream,
        kind: MediaKind,
        ts_ms: u64,
        payload: &Bytes,
        item: &MediaItem,
    ) {
        if let MediaItem::Frame(f) = item
            && f.track == Track::Video
        {
            lock(&self.fps).sample(f.dts_ms);
        }
        let tag_type = match kind {
            MediaKind::Video => 9,
            MediaKind::Audio => 8,
            MediaKind::Data => return,
        };
        let mut feed = lock(&self.feed);
        match item {
            MediaItem::VideoConfig(c) if c.codec != VideoCodec::Avc => {
                // ffmpeg's FLV demuxer here reads AVC only.
                if !matches!(feed.state, State::Off) {
                    tracing::info!(stream_id = %self.stream_id, "no ladder: the source is not H.264");
                }
                feed.state = State::Off;
                self.cancel.cancel();
                return;
            }
            MediaItem::VideoConfig(c) => feed.video = Some((payload.clone(), c.height)),
            MediaItem::AudioConfig(_) => feed.audio = Some(payload.clone()),
            _ => {}
        }
        let not_before = match &feed.state {
            State::Off => return,
            State::Running(run) => {
                let run = run.clone();
                drop(feed);
                self.send(&run, tag_type, ts_ms, payload);
                return;
            }
            State::Idle { not_before } => *not_before,
        };
        let MediaItem::Frame(frame) = item else {
            return;
        };
        if frame.track != Track::Video
            || !frame.keyframe
            || not_before.is_some_and(|t| Instant::now() < t)
        {
            return;
        }
        // Start where the source starts a segment, numbered as the source numbers it, so the
        // renditions' segments line up with the source's from the first.
        let Some((msn, pdt)) = live.segmenter().segment_starting_at(frame.dts_ms) else {
            return;
        };
        let Some((video_config, height)) = feed.video.clone() else {
            return;
        };
        let Some(slot) = self.slots.take(self.config.transcoding_concurrency) else {
            // Every ladder slot is taken: try again with a later segment, which may find one
            // freed by a stream that ended.
            if not_before.is_none() {
                tracing::info!(stream_id = %self.stream_id, "no ladder yet: TRANSCODING_CONCURRENCY ladders already running");
            }
            feed.state = State::Idle {
                not_before: Some(Instant::now() + BUSY_RETRY),
            };
            return;
        };
        feed.runs += 1;
        let id = feed.runs;
        let Some(run) = self.start(id, height, msn, pdt, slot) else {
            feed.state = State::Off;
            return;
        };
        feed.state = State::Running(run.clone());
        let audio = feed.audio.clone();
        drop(feed);
        // What ffmpeg needs before the first picture: a header and both configurations.
        self.enqueue(&run, flv_header(audio.is_some()));
        if let Some(audio) = audio {
            self.send(&run, 8, ts_ms, &audio);
        }
        self.send(&run, 9, ts_ms, &video_config);
        self.send(&run, tag_type, ts_ms, payload);
    }

    fn send(&self, run: &Run, tag_type: u8, ts_ms: u64, payload: &[u8]) {
        if let Some(tag) = flv_tag(tag_type, ts_ms, payload) {
            self.enqueue(run, tag);
        }
    }

    fn enqueue(&self, run: &Run, tag: Bytes) {
        let len = tag.len();
        if run.queued.load(Ordering::Relaxed).saturating_add(len) > QUEUE_BYTES {
            self.fail(
                run.id,
                "ffmpeg is not keeping up with the source (queue full)",
            );
            return;
        }
        match run.tx.try_send(tag) {
            Ok(()) => {
                run.queued.fetch_add(len, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.fail(
                    run.id,
                    "ffmpeg is not keeping up with the source (queue full)",
                );
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.fail(run.id, "ffmpeg's input closed"),
        }
    }

    /// Run `id` failed: it is stopped, and the ladder restarts at a later source segment, or,
    /// after [`MAX_RUNS`] processes, is dropped for the rest of the stream. Only the first
    /// report of a run counts.
    fn fail(&self, id: u32, reason: &str) {
        let mut feed = lock(&self.feed);
        let State::Running(run) = &feed.state else {
            return;
        };
        if run.id != id {
            return;
        }
        run.cancel.cancel();
        let stream_id = &self.stream_id;
        if feed.runs >= MAX_RUNS {
            tracing::warn!(%stream_id, reason, "live ladder dropped for the rest of the stream; the source goes on");
            feed.state = State::Off;
        } else {
            tracing::warn!(%stream_id, reason, "live ladder failed; the source goes on, and the ladder restarts with a later segment");
            feed.state = State::Idle {
                not_before: Some(Instant::now() + RESTART_DELAY),
            };
        }
    }

    /// Stops the ladder for good (the stream ended): ffmpeg is killed and reaped, renditions end.
    pub fn stop(&self) {
        lock(&self.feed).state = State::Off;
        self.stopping.store(true, Ordering::Relaxed);
        self.cancel.cancel();
    }

    /// Spawns ffmpeg for a source of `height` lines whose first segment will be `msn` (starting
    /// at wall-clock `pdt`), and its tasks.
    fn start(
        self: &Arc<Self>,
        id: u32,
        height: u32,
        msn: u64,
        pdt: Option<u64>,
        slot: Slot,
    ) -> Option<Run> {
        let stream_id = &self.stream_id;
        let plan = ladder::plan(&self.config, height);
        if plan.is_empty() {
            tracing::info!(%stream_id, height, "no ladder: no rung below the source's resolution");
            return None;
        }
        let segmenter = SegmenterConfig {
            start_msn: msn,
            program_date_time_ms: pdt,
            ..self.segmenter.clone()
        };
        match self.spawn(&plan, &segmenter) {
            Ok((child, outputs, dir)) => {
                let (tx, rx) = mpsc::channel(QUEUE_TAGS);
                let run = Run {
                    id,
                    tx,
                    queued: Arc::new(AtomicUsize::new(0)),
                    cancel: self.cancel.child_token(),
                };
                let names: Vec<&str> = plan.iter().map(|e| e.rung.name).collect();
                tracing::info!(%stream_id, pid = child.id(), renditions = ?names, msn, "live ladder started");
                self.run(&run, child, outputs, dir, rx, slot);
                Some(run)
            }
            Err(e) => {
                tracing::warn!(%stream_id, error = %e, "live ladder could not start; serving the source only");
                None
            }
        }
    }

    fn spawn(
        &self,
        plan: &[Encoding],
        segmenter: &SegmenterConfig,
    ) -> std::io::Result<(Child, Vec<Output>, Option<TempDir>)> {
        let dir = if plan.len() > 1 {
            Some(TempDir::new()?)
        } else {
            None
        };
        let mut outputs = Vec::with_capacity(plan.len());
        let mut targets = Vec::with_capacity(plan.len());
        for (i, e) in plan.iter().enumerate() {
            let rendition = Arc::new(Rendition::new(*e, segmenter.clone()));
            match &dir {
                Some(d) if i > 0 => {
                    let path = d.fifo(e.rung.name)?;
                    targets.push(path.display().to_string());
                    outputs.push(Output::Fifo(rendition, path));
                }
                _ => {
                    targets.push("pipe:1".into());
                    outputs.push(Output::Stdout(rendition));
                }
            }
        }
        let child = Command::new(&self.ffmpeg)
            .args(ladder::ffmpeg_args(
                plan,
                &self.config.transcoding_preset,
                &targets,
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Should the runtime go away before the supervisor reaps it.
            .kill_on_drop(true)
            .spawn()?;
        Ok((child, outputs, dir))
    }

    /// Starts a run's tasks: stdin writer, one reader per output, stderr logger, and the
    /// supervisor that kills and reaps ffmpeg.
    fn run(
        self: &Arc<Self>,
        run: &Run,
        mut child: Child,
        outputs: Vec<Output>,
        dir: Option<TempDir>,
        rx: mpsc::Receiver<Bytes>,
        slot: Slot,
    ) {
        let stream_id = self.stream_id.clone();
        let cancel = run.cancel.clone();
        let mut renditions = Vec::new();
        let mut stdout = child.stdout.take();
        for out in outputs {
            let (rendition, reader, fifo) = match out {
                Output::Stdout(r) => {
                    let reader = stdout
                        .take()
                        .map(|o| Box::new(o) as BoxedRead)
                        .ok_or_else(|| std::io::Error::other("ffmpeg's stdout is missing"));
                    (r, reader, None)
                }
                Output::Fifo(r, path) => {
                    let reader = open_fifo(&path).map(|p| Box::new(p) as BoxedRead);
                    (r, reader, Some(path))
                }
            };
            renditions.push(rendition.clone());
            match reader {
                Ok(reader) => {
                    tokio::spawn(read_output(
                        reader,
                        fifo,
                        rendition,
                        cancel.clone(),
                        stream_id.clone(),
                    ));
                }
                Err(e) => {
                    // ffmpeg would wait forever to open an output nobody reads.
                    tracing::warn!(%stream_id, error = %e, "live ladder output cannot be read");
                    cancel.cancel();
                }
            }
        }
        // The previous run's renditions have ended (or are ending on their cancellation).
        *lock(&self.renditions) = renditions;
        if let Some(stdin) = child.stdin.take() {
            tokio::spawn(write_input(stdin, rx, run.queued.clone(), cancel.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(log_stderr(stderr, stream_id));
        }
        tokio::spawn(supervise(self.clone(), run.id, child, cancel, dir, slot));
    }

    /// A rendition by its directory name (`360p`), still running or ended.
    pub fn rendition(&self, name: &str) -> Option<Arc<Rendition>> {
        lock(&self.renditions)
            .iter()
            .find(|r| r.encoding.rung.name == name)
            .cloned()
    }

    /// The renditions a low-latency master playlist lists now, in the ladder's order (lowest
    /// first), without waiting for a starting one as [`Ladder::variants`] does.
    pub fn listed(&self) -> Vec<Arc<Rendition>> {
        let renditions = lock(&self.renditions).clone();
        renditions
            .into_iter()
            .filter(|r| {
                let seg = r.segmenter();
                r.running() && playable(&seg, true) && seg.codecs().is_some()
            })
            .collect()
    }

    /// The master playlist's variants: `source` (the passthrough) and every running rendition
    /// that has produced its init segment, ordered for `quality` (see [`ladder::order_variants`]).
    /// `base` is the stream's HLS folder, `file` the media playlist name, `query` what each URI
    /// carries.
    pub async fn variants(
        &self,
        mut source: Variant,
        quality: Quality,
        base: &str,
        file: &str,
        query: &str,
    ) -> Vec<Variant> {
        let renditions = lock(&self.renditions).clone();
        let deadline = Instant::now() + START_WAIT;
        let parts = file != "plain.m3u8";
        let ready = |s: &Segmenter| playable(s, parts);
        for r in &renditions {
            if r.running() {
                r.window().wait_until(deadline, ready).await;
            }
        }
        let frame_rate = lock(&self.fps).value;
        source.frame_rate = source.frame_rate.or(frame_rate);
        let source_height = source.resolution.map(|(_, h)| h);
        let listed = renditions
            .iter()
            .filter(|r| r.running())
            .filter_map(|r| {
                let seg = r.segmenter();
                if !ready(&seg) {
                    return None;
                }
                let e = r.encoding;
                let (peak, avg) = seg.bandwidth().unwrap_or((
                    u64::from(e.maxrate_kbps) * 1000 + AUDIO_ALLOWANCE,
                    u64::from(e.bitrate_kbps) * 1000 + AUDIO_ALLOWANCE,
                ));
                Some((
                    e.rung.quality,
                    Variant {
                        uri: format!("{base}/{}/{file}?{query}", e.rung.name),
                        bandwidth: peak,
                        average_bandwidth: Some(avg),
                        codecs: seg.codecs()?,
                        resolution: seg.resolution(),
                        frame_rate,
                    },
                ))
            })
            .collect();
        ladder::order_variants(quality, source, source_height, listed)
    }
}

/// A rendition is listed once its playlist has something to play, as the source is; `parts`
/// for the low-latency playlist, which can list the parts of a segment still open.
fn playable(s: &Segmenter, parts: bool) -> bool {
    s.init_segment().is_some() && s.has_media(parts)
}

/// One encoded rendition's LL-HLS window.
pub struct Rendition {
    pub encoding: Encoding,
    window: Window,
    running: AtomicBool,
}

impl Rendition {
    fn new(encoding: Encoding, config: SegmenterConfig) -> Self {
        Self {
            encoding,
            window: Window::new(config),
            running: AtomicBool::new(true),
        }
    }

    pub fn window(&self) -> &Window {
        &self.window
    }

    pub fn segmenter(&self) -> MutexGuard<'_, Segmenter> {
        self.window.segmenter()
    }

    fn running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    fn push(&self, item: MediaItem) {
        self.window.update(|seg| ((), !seg.push(item).is_empty()));
    }

    fn finish(&self) {
        self.running.store(false, Ordering::Relaxed);
        self.window.update(|seg| {
            seg.finish();
            ((), true)
        });
    }
}

type BoxedRead = Box<dyn AsyncRead + Send + Unpin>;

enum Output {
    Stdout(Arc<Rendition>),
    Fifo(Arc<Rendition>, PathBuf),
}

/// A private folder for the FIFOs, removed with everything in it when dropped.
struct TempDir(tempfile::TempDir);

impl TempDir {
    fn new() -> std::io::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        // Only this user may even look inside, on top of the FIFOs' own 0600.
        tempfile::Builder::new()
            .prefix("ferrocast-ladder-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .map(Self)
    }

    fn fifo(&self, name: &str) -> std::io::Result<PathBuf> {
        let path = self.0.path().join(format!("{name}.flv"));
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &path,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        )?;
        Ok(path)
    }
}

/// Opened read-write so that the open neither waits for ffmpeg nor reads end-of-file before
/// ffmpeg opens its end; the reader stops on the ladder's cancellation instead.
fn open_fifo(path: &Path) -> std::io::Result<tokio::net::unix::pipe::Receiver> {
    tokio::net::unix::pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(path)
}

async fn write_input(
    mut stdin: ChildStdin,
    mut rx: mpsc::Receiver<Bytes>,
    queued: Arc<AtomicUsize>,
    cancel: CancellationToken,
) {
    loop {
        let tag = tokio::select! {
            _ = cancel.cancelled() => break,
            t = rx.recv() => match t {
                Some(t) => t,
                None => break,
            },
        };
        let written = tokio::select! {
            _ = cancel.cancelled() => break,
            r = stdin.write_all(&tag) => r,
        };
        queued.fetch_sub(tag.len(), Ordering::Relaxed);
        if written.is_err() {
            // ffmpeg closed its input: it is exiting, and the supervisor will say why.
            break;
        }
    }
}

/// Demuxes one ffmpeg output into its rendition. `fifo` is the output's path when it is a FIFO:
/// once data arrives ffmpeg has it open, so the name (and the folder, once empty) can go, and
/// nothing is left in the temporary folder should the server be killed outright.
async fn read_output(
    mut out: BoxedRead,
    mut fifo: Option<PathBuf>,
    rendition: Arc<Rendition>,
    cancel: CancellationToken,
    stream_id: String,
) {
    let mut reader = FlvReader::new(MAX_OUTPUT_TAG);
    let mut buf = vec![0u8; 64 * 1024];
    let name = rendition.encoding.rung.name;
    loop {
        let n = tokio::select! {
            _ = cancel.cancelled() => break,
            r = out.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
        };
        if let Some(path) = fifo.take() {
            let _ = std::fs::remove_file(&path);
            if let Some(dir) = path.parent() {
                // Fails while another rendition's FIFO is still there; its reader retries.
                let _ = std::fs::remove_dir(dir);
            }
        }
        let tags = match reader.feed(buf.get(..n).unwrap_or_default()) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(%stream_id, rendition = name, error = %e, "unreadable ladder output");
                cancel.cancel();
                break;
            }
        };
        for tag in tags {
            let ts = u64::from(tag.timestamp_ms);
            let item = match tag.tag_type {
                9 => flv::parse_video(ts, &tag.payload),
                8 => flv::parse_audio(ts, &tag.payload),
                _ => Ok(None),
            };
            match item {
                Ok(Some(item)) => rendition.push(item),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(%stream_id, rendition = name, error = %e, "unusable ladder output");
                    cancel.cancel();
                }
            }
        }
    }
    // Whatever stopped this output stops the ladder: a rendition that ends alone would leave
    // the others running for a master that no longer lists it.
    cancel.cancel();
    rendition.finish();
}

/// ffmpeg runs with `-loglevel error`, so whatever it says is worth a warning, up to
/// [`STDERR_LINES`] per process so that a stream of decode errors cannot flood the log. The pipe
/// is still drained after that, or ffmpeg would block writing to it.
async fn log_stderr(mut err: tokio::process::ChildStderr, stream_id: String) {
    let mut buf = vec![0u8; 4096];
    let mut logged = 0;
    loop {
        match err.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    logged += 1;
                    if logged <= STDERR_LINES {
                        tracing::warn!(%stream_id, "ladder ffmpeg: {line}");
                    } else if logged == STDERR_LINES + 1 {
                        tracing::warn!(%stream_id, "ladder ffmpeg: further messages not logged");
                    }
                }
            }
        }
    }
}

async fn supervise(
    ladder: Arc<Ladder>,
    run: u32,
    mut child: Child,
    cancel: CancellationToken,
    _dir: Option<TempDir>,
    // Freed only once the process is gone.
    _slot: Slot,
) {
    let status = tokio::select! {
        status = child.wait() => status.ok(),
        _ = cancel.cancelled() => match child.try_wait() {
            // An output reader saw it exit first.
            Ok(Some(status)) => Some(status),
            _ => {
                // kill() also waits, so no zombie is left behind.
                let _ = child.kill().await;
                None
            }
        },
    };
    cancel.cancel();
    if !ladder.stopping.load(Ordering::Relaxed) {
        let status = status.map_or_else(|| "killed".to_string(), |s| s.to_string());
        ladder.fail(run, &format!("ffmpeg stopped: {status}"));
    }
}

/// The FLV file header for a stream with video and maybe audio, and the first PreviousTagSize.
fn flv_header(audio: bool) -> Bytes {
    let flags = if audio { 0x05 } else { 0x01 };
    Bytes::copy_from_slice(&[b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0])
}

/// One FLV tag with its trailing PreviousTagSize; `None` for a payload FLV cannot carry.
fn flv_tag(tag_type: u8, ts_ms: u64, payload: &[u8]) -> Option<Bytes> {
    let size = u32::try_from(payload.len()).ok().filter(|s| *s < 1 << 24)?;
    // FLV timestamps are 32-bit milliseconds (49 days) and wrap; ffmpeg unwraps them.
    let ts = (ts_ms & 0xFFFF_FFFF) as u32;
    let mut b = BytesMut::with_capacity(11 + payload.len() + 4);
    b.put_u8(tag_type);
    b.put_uint(u64::from(size), 3);
    b.put_uint(u64::from(ts & 0x00FF_FFFF), 3);
    b.put_u8((ts >> 24) as u8);
    b.put_uint(0, 3);
    b.put_slice(payload);
    b.put_u32(11 + size);
    Some(b.freeze())
}

/// The source's frame rate, estimated from its first two seconds of video timestamps (FLV's
/// millisecond timestamps are too coarse for one interval, fine over sixty).
#[derive(Default)]
struct FrameRate {
    first: Option<u64>,
    frames: u64,
    value: Option<f64>,
}

impl FrameRate {
    fn sample(&mut self, dts_ms: u64) {
        if self.value.is_some() {
            return;
        }
        let first = *self.first.get_or_insert(dts_ms);
        self.frames += 1;
        let span = dts_ms.saturating_sub(first);
        if span >= 2000 {
            let fps = (self.frames - 1) as f64 * 1000.0 / span as f64;
            self.value = Some((fps * 1000.0).round() / 1000.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_through_the_reader() {
        let mut stream = BytesMut::new();
        stream.extend_from_slice(&flv_header(true));
        let payload = Bytes::from_static(&[0xAF, 1, 0x21, 0x10]);
        stream.extend_from_slice(&flv_tag(8, 0x1_0203_0405, &payload).unwrap_or_default());
        let tags = FlvReader::new(1024).feed(&stream).unwrap_or_default();
        assert_eq!(tags.len(), 1);
        assert_eq!(tags[0].tag_type, 8);
        assert_eq!(tags[0].timestamp_ms, 0x0203_0405);
        assert_eq!(tags[0].payload, payload);
    }

    #[test]
    fn frame_rate_from_millisecond_timestamps() {
        let mut f = FrameRate::default();
        for i in 0..=90u64 {
            f.sample(i * 1000 / 30);
        }
        assert_eq!(f.value, Some(30.0));
    }
}
