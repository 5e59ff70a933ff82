//! A file being received over the network. Writes are gathered into large ones, and what reached
//! the file is synced to disk in the background while more bytes arrive: syncing only at the end
//! would add the whole disk write to the upload's time (about 2 s for 2 GiB here), where
//! overlapped with the network it mostly hides behind it.

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::task::JoinHandle;

/// Writes are gathered to this size before they reach the file.
const WRITE_BUFFER: usize = 1024 * 1024;

/// A sync running in the background: the offset it makes durable, and the task.
type RunningSync = (u64, JoinHandle<io::Result<()>>);

pub struct Spool {
    out: BufWriter<tokio::fs::File>,
    /// A second handle on the same file, for syncing while `out` keeps writing.
    disk: Arc<std::fs::File>,
    /// Offset just past the last byte handed to `write`.
    written: u64,
    /// Offset up to which a sync was last started.
    sync_started: u64,
    running: Option<RunningSync>,
    /// A sync that `write` found finished, not yet reported by `synced`.
    reaped: Option<u64>,
    sync_every: u64,
}

impl Spool {
    /// Appends to `file`, whose end is at `offset`; a background sync starts each time
    /// `sync_every` more bytes were written (one at a time: if the disk is slower than the
    /// network, the next starts when the last is done).
    pub async fn new(file: tokio::fs::File, offset: u64, sync_every: u64) -> io::Result<Self> {
        let disk = Arc::new(file.try_clone().await?.into_std().await);
        Ok(Self {
            out: BufWriter::with_capacity(WRITE_BUFFER, file),
            disk,
            written: offset,
            sync_started: offset,
            running: None,
            reaped: None,
            sync_every,
        })
    }

    /// Writes `chunk`, and starts a background sync when one is due.
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.out.write_all(chunk).await?;
        self.written += chunk.len() as u64;
        if self
            .running
            .as_ref()
            .is_some_and(|(_, task)| task.is_finished())
        {
            self.reaped = self.wait().await?;
        }
        if self.running.is_none() && self.written - self.sync_started >= self.sync_every {
            // Only what the file already holds is covered by the sync.
            self.out.flush().await?;
            let disk = Arc::clone(&self.disk);
            let task = tokio::task::spawn_blocking(move || disk.sync_data());
            self.running = Some((self.written, task));
            self.sync_started = self.written;
        }
        Ok(())
    }

    /// Hands every byte written so far to the file, so it can be read back.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.out.flush().await
    }

    /// The offset the next finished sync made durable: at once if one finished unreported,
    /// else when the running one does (never, if none runs). Cancel-safe, for a `select!` with
    /// the next chunk: a stalled client must not hold back the record of what is on disk.
    pub async fn synced(&mut self) -> io::Result<u64> {
        if let Some(offset) = self.reaped.take() {
            return Ok(offset);
        }
        match self.wait().await? {
            Some(offset) => Ok(offset),
            None => std::future::pending().await,
        }
    }

    /// Waits for the running sync, if any; returns the offset it made durable. Cancel-safe: the
    /// task stays in `running` until it has ended.
    async fn wait(&mut self) -> io::Result<Option<u64>> {
        let Some((offset, task)) = &mut self.running else {
            return Ok(None);
        };
        let offset = *offset;
        let result = task.await;
        self.running = None;
        result.map_err(io::Error::other)??;
        Ok(Some(offset))
    }

    /// Writes and syncs everything, file size included; returns the end offset.
    pub async fn finish(mut self) -> io::Result<u64> {
        self.out.flush().await?;
        self.wait().await?;
        self.out.get_ref().sync_all().await?;
        Ok(self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_byte_lands_in_order_and_syncs_are_reported_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"head:").unwrap();
        let file = tokio::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .await
            .unwrap();
        let mut spool = Spool::new(file, 5, 1000).await.unwrap();
        let mut expected = b"head:".to_vec();
        let mut durable = Vec::new();
        for i in 0..500u32 {
            let chunk = i.to_le_bytes().repeat(50);
            expected.extend_from_slice(&chunk);
            spool.write(&chunk).await.unwrap();
            // What a receiving loop does between chunks: take any sync that ended.
            while let Ok(Ok(offset)) =
                tokio::time::timeout(std::time::Duration::ZERO, spool.synced()).await
            {
                durable.push(offset);
            }
            if i == 100 {
                spool.flush().await.unwrap();
                assert_eq!(std::fs::read(&path).unwrap(), expected, "flushed");
            }
        }
        assert_eq!(spool.finish().await.unwrap(), expected.len() as u64);
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        assert!(durable.windows(2).all(|w| w[0] < w[1]), "{durable:?}");
        assert!(
            durable
                .iter()
                .all(|&o| o >= 1005 && o <= expected.len() as u64),
            "{durable:?}"
        );
    }

    #[tokio::test]
    async fn a_failing_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"").unwrap();
        // Opened read-only: the first write that reaches the file fails.
        let file = tokio::fs::File::open(&path).await.unwrap();
        let mut spool = Spool::new(file, 0, 1 << 30).await.unwrap();
        let chunk = vec![7u8; 64 * 1024];
        let mut failed = false;
        for _ in 0..64 {
            if spool.write(&chunk).await.is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed || spool.finish().await.is_err());
    }
}
