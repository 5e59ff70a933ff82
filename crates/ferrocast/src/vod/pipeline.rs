//! One transcode job from start to end: probe, the ladder in one ffmpeg run, pictures, and a
//! preview cut from the ladder's own segments.
//! Everything is written into fresh folders beside the final ones and swapped in only when the
//! whole job succeeded, so a failed or cancelled job leaves the previous outputs (and always the
//! original upload) untouched. With S3 storage the original is first copied into a working folder,
//! and the finished folders are uploaded (segments before the manifests naming them) instead of
//! renamed, then removed.

use std::path::{Path, PathBuf};

use super::Outputs;
use super::ffmpeg::{Ctl, Step, Stop, run, time_limit};
use super::jobs::TranscodeParams;
use super::ladder::{self, LadderJob, Profile};
use super::passthrough;
use super::thumbs;
use crate::media_tools::probe;
use crate::videos::store::VideoRow;

/// Where a video's streams and preview are stored, on the videos shelf.
pub fn renditions_prefix(video_id: &str) -> String {
    format!("renditions/{video_id}")
}

/// Where a video's pictures are stored, on the pictures shelf.
pub fn pictures_prefix(video_id: &str) -> String {
    video_id.to_string()
}

/// The local folder of a video's streams: the stored files with the local backend, where they
/// are staged with S3.
pub fn renditions_dir(config: &crate::config::Config, video_id: &str) -> PathBuf {
    config.upload_dir.join(renditions_prefix(video_id))
}

pub fn thumbnails_dir(config: &crate::config::Config, video_id: &str) -> PathBuf {
    config.thumbnail_dir.join(pictures_prefix(video_id))
}

fn sibling(dir: &Path, tag: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.with_file_name(format!("{name}.{tag}"))
}

/// Removes the leftovers of earlier attempts that died mid-way (`<video_id>.tmp-*`).
async fn remove_leftovers(dir: &Path) {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return;
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let Ok(mut entries) = tokio::fs::read_dir(parent).await else {
        return;
    };
    let mut seen = 0;
    while let Ok(Some(e)) = entries.next_entry().await {
        seen += 1;
        if seen > 100_000 {
            break;
        }
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = tokio::fs::remove_dir_all(e.path()).await;
        }
    }
}

async fn fresh_dir(dir: &Path) -> Result<(), Stop> {
    let _ = tokio::fs::remove_dir_all(dir).await;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| Stop::Failed(format!("could not create the output folder: {e}")))
}

/// Puts `new` in place of `target`, removing what was there.
async fn swap_in(new: &Path, target: &Path, version: &str) -> Result<(), Stop> {
    let old = sibling(target, &format!("old-{version}"));
    let had_old = tokio::fs::rename(target, &old).await.is_ok();
    tokio::fs::rename(new, target)
        .await
        .map_err(|e| Stop::Failed(format!("could not publish the outputs: {e}")))?;
    if had_old {
        let _ = tokio::fs::remove_dir_all(&old).await;
    }
    Ok(())
}

/// Removes the unfinished folders if the job stops early.
struct Scratch(Vec<PathBuf>);

impl Drop for Scratch {
    fn drop(&mut self) {
        for d in self.0.drain(..) {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

pub async fn process(
    ctl: &mut Ctl,
    video: &VideoRow,
    params: &TranscodeParams,
    attempt: i64,
) -> Result<Outputs, Stop> {
    let state = ctl.state.clone();
    let config = &state.config;
    let storage = &state.storage;
    ctl.redact
        .push(config.upload_dir.to_string_lossy().into_owned());
    ctl.redact
        .push(config.thumbnail_dir.to_string_lossy().into_owned());
    let version: String = format!(
        "{}{attempt}",
        ctl.job_id
            .rsplit('_')
            .next()
            .unwrap_or("v")
            .chars()
            .take(8)
            .collect::<String>()
    );
    let out_final = renditions_dir(config, &video.id);
    let thumbs_final = thumbnails_dir(config, &video.id);
    remove_leftovers(&out_final).await;
    remove_leftovers(&thumbs_final).await;
    let out_tmp = sibling(&out_final, &format!("tmp-{version}"));
    let thumbs_tmp = sibling(&thumbs_final, &format!("tmp-{version}"));
    // Removes the staging folders however the job ends; with the local backend the finished ones
    // have been renamed away by then.
    let mut scratch = Scratch(Vec::new());

    let original = crate::storage::original_name(&video.file_path)
        .ok_or_else(|| Stop::Failed("the original file is missing".into()))?;
    match storage.videos.exists(original).await {
        Ok(true) => {}
        Ok(false) => return Err(Stop::Failed("the original file is missing".into())),
        Err(e) => {
            tracing::warn!(video_id = %video.id, error = format!("{e:#}"), "cannot reach the original");
            return Err(Stop::Failed("the original file cannot be read".into()));
        }
    }
    // ffmpeg reads a local file: the stored one itself, or a working copy of a remote one.
    let input = match storage.videos.local_path(original) {
        Some(path) => path,
        None => {
            let dir = sibling(&out_final, &format!("tmp-{version}-input"));
            scratch.0.push(dir.clone());
            fresh_dir(&dir).await?;
            let copy = dir.join(original);
            if let Err(e) = storage.videos.fetch(original, &copy).await {
                tracing::warn!(video_id = %video.id, error = format!("{e:#}"), "cannot fetch the original");
                return Err(Stop::Failed("the original file cannot be read".into()));
            }
            copy
        }
    };
    ctl.redact.push(input.to_string_lossy().into_owned());
    let meta = probe(&state.tools, &input)
        .await
        .map_err(|e| Stop::Failed(ctl.clean(&format!("probe: {e}"))))?;
    if !meta.has_video && !meta.has_audio {
        return Err(Stop::Failed("the file has no audio or video".into()));
    }
    let display = if meta.has_video {
        Some(
            meta.display_size()
                .ok_or_else(|| Stop::Failed("the video has no picture size".into()))?,
        )
    } else {
        None
    };
    let profiles: Vec<Profile> = params
        .profiles
        .iter()
        .filter_map(|p| ladder::profile(p))
        .collect();
    if profiles.is_empty() {
        return Err(Stop::Failed("no known profile requested".into()));
    }
    let mut rungs = match display {
        Some(d) => ladder::plan_rungs(&profiles, d, config),
        None => Vec::new(),
    };
    if !config.enable_adaptive_bitrate {
        // One rendition for every player: the largest the plan has (smallest first).
        rungs.drain(..rungs.len().saturating_sub(1));
    }
    let audio_kbps = meta.has_audio.then(|| {
        rungs
            .iter()
            .map(|r| r.audio_kbps)
            .max()
            .unwrap_or_else(|| profiles.iter().map(|p| p.audio_kbps).max().unwrap_or(128))
    });
    let fps = ladder::output_fps(meta.fps);
    scratch.0.push(out_tmp.clone());
    fresh_dir(&out_tmp).await?;

    let streams = params.hls || params.dash;
    // Only a ladder can copy the source into a rung; the packet scan is for it alone.
    if streams
        && let Some(c) = passthrough::candidate(&meta, &rungs, config)
        && passthrough::keyframes_cut_segments(&state.tools, &input).await
    {
        let r = &mut rungs[c.rung];
        r.passthrough = true;
        r.video_kbps = c.kbps;
        tracing::debug!(video_id = %video.id, rung = %r.name, "the source's video is the top rung as it is");
    }
    let pictures = params.thumbnails && display.is_some();
    // Shares of the progress bar, by what each step roughly costs.
    let ladder_end = if streams { 85.0 } else { 0.0 };
    let thumbs_end = if pictures {
        ladder_end + 7.0
    } else {
        ladder_end
    };
    ctl.beat(0.0, "starting").await?;
    if streams {
        let args = ladder::ladder_args(&LadderJob {
            input: &input,
            out_dir: &out_tmp,
            rungs: &rungs,
            fps,
            audio_kbps,
            preset: &config.transcoding_preset,
            hls: params.hls,
            version: &version,
        });
        run(
            ctl,
            Step {
                stage: "ladder",
                args,
                span: (0.0, ladder_end),
                duration: meta.duration,
                time_limit: time_limit(meta.duration),
            },
        )
        .await?;
    }
    let thumbnails = match (pictures, display) {
        (true, Some(d)) => {
            scratch.0.push(thumbs_tmp.clone());
            fresh_dir(&thumbs_tmp).await?;
            Some(
                thumbs::make_thumbnails(
                    ctl,
                    &input,
                    &thumbs_tmp,
                    d,
                    fps,
                    meta.duration,
                    (ladder_end, thumbs_end),
                )
                .await?,
            )
        }
        _ => None,
    };
    if streams {
        // Video representations are numbered first, then the audio one.
        let audio = meta.has_audio.then_some(rungs.len());
        thumbs::cut_preview(
            ctl,
            &out_tmp,
            &version,
            thumbs::preview_rung(&rungs),
            audio,
            (thumbs_end, 99.0),
        )
        .await?;
    } else {
        thumbs::make_preview(
            ctl,
            &input,
            &out_tmp,
            display,
            meta.has_audio,
            fps,
            &config.transcoding_preset,
            (thumbs_end, 99.0),
        )
        .await?;
    }

    if storage.videos.is_local() {
        swap_in(&out_tmp, &out_final, &version).await?;
        if thumbnails.is_some() {
            swap_in(&thumbs_tmp, &thumbs_final, &version).await?;
        }
    } else {
        let mut published = storage
            .videos
            .publish_dir(&renditions_prefix(&video.id), &out_tmp)
            .await;
        if published.is_ok() && thumbnails.is_some() {
            published = storage
                .pictures
                .publish_dir(&pictures_prefix(&video.id), &thumbs_tmp)
                .await;
        }
        if let Err(e) = published {
            tracing::warn!(video_id = %video.id, error = format!("{e:#}"), "cannot store the outputs");
            return Err(Stop::Failed("the outputs could not be stored".into()));
        }
    }
    drop(scratch);
    Ok(Outputs {
        version,
        hls: streams && params.hls,
        dash: streams && params.dash,
        rungs,
        audio: meta.has_audio,
        preview: true,
        // Pictures not asked for this time: the earlier ones still show this video.
        thumbnails: thumbnails.or_else(|| video.outputs().and_then(|o| o.thumbnails)),
    })
}
