//! Where media is kept, behind `object_store`: originals and the streams made from them (the
//! videos shelf, UPLOAD_DIR on disk) and pictures (THUMBNAIL_DIR). Local disk is the default and
//! keeps the folders' layout; an S3-compatible bucket holds the same names under
//! `{S3_PREFIX}/videos/` and `{S3_PREFIX}/thumbnails/`.
//!
//! ffmpeg reads and writes files, so work happens in the local folders either way. With the local
//! backend those files already are the stored objects and nothing is copied; with S3 they are
//! uploaded when complete and the local copies removed.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::prefix::PrefixStore;
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart,
};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use crate::config::{Config, S3Settings, StorageBackend};
use crate::error::{ApiError, ApiResult};
use crate::http_range::{media_headers, parse_range, set};

/// Parts of a multipart upload; S3 wants at least 5 MiB for every part but the last.
const PART_SIZE: usize = 8 << 20;
/// Parts of one object in flight at once.
const PART_CONCURRENCY: usize = 4;
/// Files of one folder uploaded at once (segments are a few hundred KiB to a few MiB each).
const FILE_CONCURRENCY: usize = 4;
/// Playlists, manifests and WebVTT are read whole to be rewritten; anything larger is not one.
const TEXT_LIMIT: u64 = 8 << 20;

#[derive(Clone)]
pub struct Storage {
    /// Originals as `{video_id}_{name}`, streams and previews under `renditions/{video_id}/`.
    pub videos: Shelf,
    /// Pictures under `{video_id}/`, recordings' thumbnails as `{video_id}.jpg`.
    pub pictures: Shelf,
}

/// One area of the store, with the local folder that holds it (local backend) or stages it (S3).
#[derive(Clone)]
pub struct Shelf {
    store: Arc<dyn ObjectStore>,
    dir: PathBuf,
    /// `s3://bucket/prefix/area` for S3, which is how the database names an original there.
    remote: Option<String>,
}

impl Storage {
    /// Opens the configured backend. An S3 bucket is reached once here, so wrong credentials or
    /// an unreachable endpoint stop the server at start rather than failing the first upload.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        for dir in [&config.upload_dir, &config.thumbnail_dir] {
            tokio::fs::create_dir_all(dir)
                .await
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        match &config.storage {
            StorageBackend::Local => Ok(Self {
                videos: Shelf::local(&config.upload_dir)?,
                pictures: Shelf::local(&config.thumbnail_dir)?,
            }),
            StorageBackend::S3(s3) => {
                let bucket: Arc<dyn ObjectStore> = Arc::new(s3_client(s3)?);
                let storage = Self {
                    videos: Shelf::remote(&bucket, s3, "videos", &config.upload_dir),
                    pictures: Shelf::remote(&bucket, s3, "thumbnails", &config.thumbnail_dir),
                };
                storage.videos.check().await.with_context(|| {
                    format!(
                        "cannot use S3 bucket {:?} at {}",
                        s3.bucket,
                        s3.endpoint.as_deref().unwrap_or("AWS")
                    )
                })?;
                Ok(storage)
            }
        }
    }
}

fn s3_client(s3: &S3Settings) -> anyhow::Result<object_store::aws::AmazonS3> {
    // The HTTP client's TLS is built without a bundled crypto provider (see Cargo.toml); this
    // installs ring's once for the process. A second call finds it installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(&s3.bucket)
        .with_region(&s3.region)
        .with_allow_http(s3.allow_http)
        // Transient errors are retried, but a store that stays down fails requests in seconds
        // rather than holding players (and the start) for the library's default three minutes.
        .with_retry(object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: std::time::Duration::from_secs(15),
            ..Default::default()
        });
    if let Some(endpoint) = &s3.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some((id, secret)) = &s3.credentials {
        builder = builder
            .with_access_key_id(id)
            .with_secret_access_key(secret);
    }
    builder.build().context("invalid S3 settings")
}

/// The name under which a video's original is stored, from the `file_path` the database keeps:
/// its last component, for local paths and `s3://` locations alike.
pub fn original_name(file_path: &str) -> Option<&str> {
    file_path
        .rsplit(['/', '\\'])
        .next()
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
}

fn key(name: &str) -> anyhow::Result<Key> {
    Key::parse(name).with_context(|| format!("invalid object name {name:?}"))
}

fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

fn api_error(e: object_store::Error, what: &str) -> ApiError {
    if is_not_found(&e) {
        ApiError::not_found(what)
    } else {
        ApiError::Internal(anyhow::Error::new(e).context("storage"))
    }
}

/// Manifests name the segments, so they go up after them: a player never reads a playlist whose
/// files are not there yet.
fn names_others(name: &str) -> bool {
    matches!(
        name.rsplit_once('.').map(|(_, e)| e),
        Some("m3u8" | "mpd" | "vtt")
    )
}

impl Shelf {
    fn local(dir: &Path) -> anyhow::Result<Self> {
        let store = LocalFileSystem::new_with_prefix(dir)
            .with_context(|| format!("cannot open {}", dir.display()))?;
        Ok(Self {
            store: Arc::new(store),
            dir: dir.to_path_buf(),
            remote: None,
        })
    }

    fn remote(bucket: &Arc<dyn ObjectStore>, s3: &S3Settings, area: &str, dir: &Path) -> Self {
        let prefix = if s3.prefix.is_empty() {
            area.to_string()
        } else {
            format!("{}/{area}", s3.prefix)
        };
        Self {
            store: Arc::new(PrefixStore::new(Arc::clone(bucket), prefix.as_str())),
            dir: dir.to_path_buf(),
            remote: Some(format!("s3://{}/{prefix}", s3.bucket)),
        }
    }

    async fn check(&self) -> anyhow::Result<()> {
        self.store.list_with_delimiter(None).await?;
        Ok(())
    }

    /// The local folder: the objects themselves with the local backend, a staging area with S3.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn is_local(&self) -> bool {
        self.remote.is_none()
    }

    /// The file that is the object `name`, when the backend is local disk.
    pub fn local_path(&self, name: &str) -> Option<PathBuf> {
        self.is_local().then(|| self.dir.join(name))
    }

    /// How the database records where the object `name` is: a path on disk as it always was, or
    /// an `s3://` URL.
    pub fn location(&self, name: &str) -> String {
        match &self.remote {
            None => self
                .dir
                .join(name)
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string(),
            Some(base) => format!("{base}/{name}"),
        }
    }

    /// Moves the local file `file` into the store as `name`: a rename on local disk (nothing at
    /// all when it is already there), an upload with S3 after which the local file is removed.
    pub async fn store_file(&self, name: &str, file: &Path) -> anyhow::Result<()> {
        if let Some(target) = self.local_path(name) {
            if target == file {
                return Ok(());
            }
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            if tokio::fs::rename(file, &target).await.is_err() {
                // Another file system: copy, then drop the source.
                tokio::fs::copy(file, &target).await?;
                tokio::fs::remove_file(file).await?;
            }
            return Ok(());
        }
        self.upload(name, file).await?;
        tokio::fs::remove_file(file).await?;
        Ok(())
    }

    async fn upload(&self, name: &str, file: &Path) -> anyhow::Result<()> {
        let location = key(name)?;
        let len = tokio::fs::metadata(file).await?.len();
        if len <= PART_SIZE as u64 {
            let data = tokio::fs::read(file).await?;
            self.store
                .put(&location, PutPayload::from(data))
                .await
                .with_context(|| format!("cannot upload {name}"))?;
            return Ok(());
        }
        let upload = self.store.put_multipart(&location).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut source = tokio::fs::File::open(file).await?;
        let mut buf = vec![0u8; 1 << 20];
        let copied: anyhow::Result<()> = async {
            loop {
                let n = source.read(&mut buf).await?;
                if n == 0 {
                    return Ok(());
                }
                writer.wait_for_capacity(PART_CONCURRENCY).await?;
                writer.write(&buf[..n]);
            }
        }
        .await;
        if let Err(e) = copied {
            let _ = writer.abort().await;
            return Err(e.context(format!("cannot upload {name}")));
        }
        writer
            .finish()
            .await
            .with_context(|| format!("cannot upload {name}"))?;
        Ok(())
    }

    /// Uploads every file of the local folder `dir` as `{prefix}/{file name}`, manifests last,
    /// then removes what else was under the prefix (an earlier run's segments). S3 only: with the
    /// local backend the folder is renamed into place instead.
    pub async fn publish_dir(&self, prefix: &str, dir: &Path) -> anyhow::Result<()> {
        let mut names = Vec::new();
        let mut entries = tokio::fs::read_dir(dir).await?;
        while let Some(e) = entries.next_entry().await? {
            if e.file_type().await?.is_file()
                && let Some(n) = e.file_name().to_str()
            {
                names.push(n.to_string());
            }
        }
        let (last, first): (Vec<_>, Vec<_>) = names.iter().partition(|n| names_others(n));
        for batch in [first, last] {
            // Owned values in each upload: the job's future must stay `Send` for any lifetime.
            let uploads: Vec<_> = batch
                .into_iter()
                .map(|n| {
                    let shelf = self.clone();
                    let name = format!("{prefix}/{n}");
                    let file = dir.join(n);
                    async move { shelf.upload(&name, &file).await }
                })
                .collect();
            futures_util::stream::iter(uploads)
                .buffer_unordered(FILE_CONCURRENCY)
                .try_collect::<Vec<()>>()
                .await?;
        }
        let fresh: std::collections::HashSet<String> =
            names.iter().map(|n| format!("{prefix}/{n}")).collect();
        let stale: Vec<String> = self
            .list(prefix)
            .await?
            .into_iter()
            .filter(|k| !fresh.contains(k))
            .collect();
        self.remove_all(stale).await
    }

    /// Copies the object `name` into the local file `to` (written beside it, then renamed).
    pub async fn fetch(&self, name: &str, to: &Path) -> anyhow::Result<()> {
        let got = self.store.get(&key(name)?).await?;
        let partial = to.with_extension("part");
        let mut file = tokio::fs::File::create(&partial).await?;
        let mut stream = got.into_stream();
        let copied: anyhow::Result<()> = async {
            while let Some(chunk) = stream.next().await {
                file.write_all(&chunk?).await?;
            }
            file.flush().await?;
            Ok(())
        }
        .await;
        if let Err(e) = copied {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
        tokio::fs::rename(&partial, to).await?;
        Ok(())
    }

    /// Whether the object exists.
    pub async fn exists(&self, name: &str) -> anyhow::Result<bool> {
        match self.store.head(&key(name)?).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Names of the objects under the folder `prefix`.
    pub async fn list(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let prefix = key(prefix)?;
        let mut out = Vec::new();
        let mut listing = self.store.list(Some(&prefix));
        while let Some(meta) = listing.next().await {
            match meta {
                Ok(m) => out.push(m.location.to_string()),
                Err(e) if is_not_found(&e) => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// Deletes the object; one that is not there is not an error.
    pub async fn remove(&self, name: &str) -> anyhow::Result<()> {
        match self.store.delete(&key(name)?).await {
            Err(e) if !is_not_found(&e) => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Deletes everything under the folder `prefix` (on disk, the folder itself).
    pub async fn remove_prefix(&self, prefix: &str) -> anyhow::Result<()> {
        if let Some(dir) = self.local_path(prefix) {
            key(prefix)?;
            return match tokio::fs::remove_dir_all(&dir).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            };
        }
        let names = self.list(prefix).await?;
        self.remove_all(names).await
    }

    async fn remove_all(&self, names: Vec<String>) -> anyhow::Result<()> {
        let locations = names
            .iter()
            .map(|n| key(n))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut deleted = self
            .store
            .delete_stream(futures_util::stream::iter(locations.into_iter().map(Ok)).boxed());
        while let Some(r) = deleted.next().await {
            match r {
                Err(e) if !is_not_found(&e) => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }

    /// A small object whole (a thumbnail), or `None` when it does not exist.
    pub async fn read_small(&self, name: &str, limit: u64) -> ApiResult<Option<Bytes>> {
        let got = match self.store.get(&key(name)?).await {
            Ok(g) => g,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(api_error(e, name)),
        };
        if got.meta.size > limit {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "{name} is unexpectedly large"
            )));
        }
        Ok(Some(got.bytes().await.map_err(|e| api_error(e, name))?))
    }

    /// A playlist, manifest or WebVTT, read whole so it can be rewritten. Missing: 404 naming
    /// `what`.
    pub async fn read_text(&self, name: &str, what: &str) -> ApiResult<String> {
        let data = self
            .read_small(name, TEXT_LIMIT)
            .await?
            .ok_or_else(|| ApiError::not_found(what))?;
        String::from_utf8(data.to_vec())
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("{name} is not UTF-8 text")))
    }

    /// The object as an HTTP response, whole or the one byte range asked for, streamed (a large
    /// original never sits in memory). Missing: 404 naming `what`.
    pub async fn serve(
        &self,
        name: &str,
        content_type: &str,
        cache_control: &str,
        request: &HeaderMap,
        what: &str,
    ) -> ApiResult<Response> {
        let location = key(name).map_err(|_| ApiError::not_found(what))?;
        let mut headers = media_headers(content_type, cache_control);
        let asked = request.get(header::RANGE).and_then(|v| v.to_str().ok());
        // Without a Range header one request gets the object and its size together; with one,
        // the size must be known first to resolve suffix ranges and answer 416.
        let mut range = None;
        if let Some(asked) = asked {
            let len = self
                .store
                .head(&location)
                .await
                .map_err(|e| api_error(e, what))?
                .size;
            match parse_range(asked, len) {
                None => {}
                Some(Ok((start, end))) => range = Some((start, end, len)),
                Some(Err(())) => {
                    set(
                        &mut headers,
                        header::CONTENT_RANGE,
                        &format!("bytes */{len}"),
                    );
                    return Ok((StatusCode::RANGE_NOT_SATISFIABLE, headers).into_response());
                }
            }
        }
        let options = GetOptions {
            range: range.map(|(start, end, _)| GetRange::Bounded(start..end + 1)),
            ..Default::default()
        };
        let got = self
            .store
            .get_opts(&location, options)
            .await
            .map_err(|e| api_error(e, what))?;
        let span = got.range.clone();
        let status = match range {
            Some((start, end, len)) => {
                set(
                    &mut headers,
                    header::CONTENT_RANGE,
                    &format!("bytes {start}-{end}/{len}"),
                );
                StatusCode::PARTIAL_CONTENT
            }
            None => StatusCode::OK,
        };
        let count = span.end - span.start;
        set(&mut headers, header::CONTENT_LENGTH, &count.to_string());
        let body = match got.payload {
            // A local file is read in large chunks by tokio rather than through the store's
            // small-chunk stream: the same bytes, fewer blocking reads.
            GetResultPayload::File(file, _) => {
                let mut file = tokio::fs::File::from_std(file);
                file.seek(SeekFrom::Start(span.start)).await?;
                Body::from_stream(ReaderStream::with_capacity(file.take(count), 64 * 1024))
            }
            GetResultPayload::Stream(stream) => Body::from_stream(stream),
        };
        Ok((status, headers, body).into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_names() {
        assert_eq!(
            original_name("uploads/videos/video_a_clip.mp4"),
            Some("video_a_clip.mp4")
        );
        assert_eq!(
            original_name("s3://b/site/videos/video_a_clip.mp4"),
            Some("video_a_clip.mp4")
        );
        assert_eq!(original_name("video_a.mp4"), Some("video_a.mp4"));
        assert_eq!(original_name("uploads/"), None);
        assert_eq!(original_name("a/.."), None);
    }

    #[test]
    fn manifests_go_last() {
        assert!(names_others("playlist.m3u8"));
        assert!(names_others("manifest.mpd"));
        assert!(names_others("storyboard.vtt"));
        assert!(!names_others("seg-v1-0-00001.m4s"));
        assert!(!names_others("preview.mp4"));
    }

    #[tokio::test]
    async fn local_shelf_is_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let shelf = Shelf::local(dir.path()).unwrap();
        let staged = dir.path().join(".incoming");
        tokio::fs::write(&staged, b"0123456789").await.unwrap();
        shelf.store_file("video_a_x.mp4", &staged).await.unwrap();
        assert!(!staged.exists());
        let stored = dir.path().join("video_a_x.mp4");
        assert_eq!(std::fs::read(&stored).unwrap(), b"0123456789");
        assert_eq!(shelf.local_path("video_a_x.mp4"), Some(stored.clone()));
        // Already in place: nothing moves.
        shelf.store_file("video_a_x.mp4", &stored).await.unwrap();
        assert!(stored.exists());

        let mut request = HeaderMap::new();
        request.insert(
            header::RANGE,
            axum::http::HeaderValue::from_static("bytes=2-4"),
        );
        let resp = shelf
            .serve("video_a_x.mp4", "video/mp4", "no-cache", &request, "File")
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(resp.headers()[header::CONTENT_RANGE], "bytes 2-4/10");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        assert_eq!(&body[..], b"234");
        let missing = shelf
            .serve(
                "nope.mp4",
                "video/mp4",
                "no-cache",
                &HeaderMap::new(),
                "File",
            )
            .await;
        assert!(matches!(missing, Err(ApiError::NotFound(_))));

        tokio::fs::create_dir_all(dir.path().join("renditions/video_a"))
            .await
            .unwrap();
        tokio::fs::write(dir.path().join("renditions/video_a/p.m3u8"), "#EXTM3U\n")
            .await
            .unwrap();
        assert_eq!(
            shelf.list("renditions/video_a").await.unwrap(),
            vec!["renditions/video_a/p.m3u8".to_string()]
        );
        shelf.remove_prefix("renditions/video_a").await.unwrap();
        assert!(!dir.path().join("renditions/video_a").exists());
        shelf.remove("video_a_x.mp4").await.unwrap();
        shelf.remove("video_a_x.mp4").await.unwrap();
        assert!(!stored.exists());
    }
}
