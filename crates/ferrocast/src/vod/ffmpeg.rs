//! Running ffmpeg for a job: progress read from `-progress pipe:1`, the job's lease renewed on a
//! steady tick (which is also how a cancel or a lost lease is noticed), a time limit, and the last
//! lines of ffmpeg's errors kept for the job's `error`.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

use super::jobs;
use crate::realtime::Event;
use crate::state::AppState;

/// Why a job stopped before finishing.
#[derive(Debug)]
pub enum Stop {
    /// The job is no longer this worker's (cancelled, deleted, or re-leased elsewhere).
    Lost,
    Failed(String),
}

/// A running job's link to the queue and the hub.
pub struct Ctl {
    pub state: AppState,
    pub job_id: String,
    pub video_id: String,
    pub owner: String,
    started: Instant,
    /// Words that must not reach the job's public `error` (the server's file paths).
    pub redact: Vec<String>,
}

impl Ctl {
    pub fn new(state: AppState, job: &jobs::JobRow, owner: &str) -> Self {
        Self {
            state,
            job_id: job.id.clone(),
            video_id: job.video_id.clone(),
            owner: owner.to_string(),
            started: Instant::now(),
            redact: Vec::new(),
        }
    }

    pub fn tick_interval(&self) -> Duration {
        let third = self.state.config.job_lease_seconds.saturating_mul(1000) / 3;
        Duration::from_millis(third.clamp(300, 1000))
    }

    /// Renews the lease, records `progress` (percent of the whole job) and tells the video's
    /// channel. A database hiccup is only logged: the lease has room for a few missed beats.
    pub async fn beat(&self, progress: f64, stage: &str) -> Result<(), Stop> {
        let progress = progress.clamp(0.0, 100.0);
        let elapsed = self.started.elapsed().as_secs_f64();
        let eta =
            (progress >= 1.0).then(|| (elapsed * (100.0 - progress) / progress).round() as i64);
        match jobs::heartbeat(
            &self.state.db,
            &self.job_id,
            &self.owner,
            self.state.config.job_lease_seconds,
            progress,
            eta,
        )
        .await
        {
            Ok(true) => {}
            Ok(false) => return Err(Stop::Lost),
            Err(e) => {
                tracing::warn!(job_id = %self.job_id, error = %e, "could not renew the job lease")
            }
        }
        self.state.hub.publish(
            &self.video_id,
            &Event::TranscodeProgress {
                video_id: self.video_id.clone(),
                job_id: self.job_id.clone(),
                progress: (progress * 10.0).round() / 10.0,
                eta_seconds: eta,
                stage: stage.to_string(),
                timestamp: crate::ids::now(),
            },
        );
        Ok(())
    }

    pub fn clean(&self, text: &str) -> String {
        let mut out = text.to_string();
        for word in self.redact.iter().filter(|w| !w.is_empty()) {
            out = out.replace(word.as_str(), "<file>");
        }
        out
    }
}

/// One ffmpeg step of a job.
pub struct Step<'a> {
    pub stage: &'a str,
    pub args: Vec<OsString>,
    /// The part of the job's progress this step covers, in percent.
    pub span: (f64, f64),
    /// Media seconds the step writes, to turn ffmpeg's `out_time` into a fraction.
    pub duration: Option<f64>,
    pub time_limit: Duration,
}

/// Keeps the last few lines ffmpeg printed to stderr, bounded in count and length.
async fn tail_lines(reader: impl AsyncRead + Unpin) -> Vec<String> {
    let mut lines = BufReader::new(reader).lines();
    let mut kept: VecDeque<String> = VecDeque::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let line: String = line.trim().chars().take(300).collect();
        if line.is_empty() {
            continue;
        }
        if kept.len() == 4 {
            kept.pop_front();
        }
        kept.push_back(line);
    }
    kept.into()
}

/// Parses one `key=value` line of `-progress` output into seconds written, if it is the time.
fn out_seconds(line: &str) -> Option<f64> {
    let (k, v) = line.split_once('=')?;
    match k {
        "out_time_us" => v.trim().parse::<i64>().ok().map(|us| us as f64 / 1e6),
        _ => None,
    }
}

pub async fn run(ctl: &Ctl, step: Step<'_>) -> Result<(), Stop> {
    let ffmpeg = ctl
        .state
        .tools
        .ffmpeg
        .clone()
        .ok_or_else(|| Stop::Failed("ffmpeg is not installed".into()))?;
    // The exact command, so an operator (or bench/vod-job.sh) can run it by hand.
    tracing::debug!(job_id = %ctl.job_id, stage = step.stage, command = ?step.args, "running ffmpeg");
    let mut child = Command::new(ffmpeg)
        .args(&step.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Stop::Failed(format!("{}: could not start ffmpeg: {e}", step.stage)))?;
    let stderr = child.stderr.take().map(|e| tokio::spawn(tail_lines(e)));
    let mut stdout = child.stdout.take().map(|o| BufReader::new(o).lines());
    let mut tick = tokio::time::interval(ctl.tick_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let deadline = tokio::time::sleep(step.time_limit);
    tokio::pin!(deadline);
    let (lo, hi) = step.span;
    let mut fraction = 0.0_f64;
    let status = loop {
        tokio::select! {
            line = async {
                match stdout.as_mut() {
                    Some(l) => l.next_line().await,
                    None => std::future::pending().await,
                }
            } => match line {
                Ok(Some(line)) => {
                    if let (Some(s), Some(d)) = (out_seconds(&line), step.duration)
                        && d > 0.0
                    {
                        fraction = (s / d).clamp(0.0, 1.0);
                    }
                }
                // ffmpeg closed its output: it is finishing.
                _ => stdout = None,
            },
            _ = tick.tick() => {
                if let Err(stop) = ctl.beat(lo + (hi - lo) * fraction, step.stage).await {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    return Err(stop);
                }
            },
            status = child.wait(), if stdout.is_none() => break status,
            _ = &mut deadline => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(Stop::Failed(format!(
                    "{}: ffmpeg took longer than {} s",
                    step.stage,
                    step.time_limit.as_secs()
                )));
            }
        }
    };
    let status = status.map_err(|e| Stop::Failed(format!("{}: {e}", step.stage)))?;
    let lines = match stderr {
        Some(h) => h.await.unwrap_or_default(),
        None => Vec::new(),
    };
    if status.success() {
        return Ok(());
    }
    let why = if lines.is_empty() {
        format!("exit status {status}")
    } else {
        lines.join(" | ")
    };
    Err(Stop::Failed(
        ctl.clean(&format!("{}: ffmpeg failed: {why}", step.stage)),
    ))
}

/// A generous limit for a step over `seconds` of media: slow presets on big inputs are slow, but a
/// wedged ffmpeg must not hold a worker forever.
pub fn time_limit(seconds: Option<f64>) -> Duration {
    let media = seconds
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(3600.0);
    Duration::from_secs_f64((media * 20.0).clamp(300.0, 48.0 * 3600.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_progress_lines() {
        assert_eq!(out_seconds("out_time_us=2500000"), Some(2.5));
        assert_eq!(out_seconds("out_time_us=N/A"), None);
        assert_eq!(out_seconds("frame=10"), None);
        assert_eq!(time_limit(Some(1.0)).as_secs(), 300);
    }
}
