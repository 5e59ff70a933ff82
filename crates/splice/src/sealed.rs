//! Bytes kept in sealed memory files, and the table that maps their addresses back to the files.

use std::io;

use bytes::Bytes;

/// `chunks` joined into one sealed memory file mapped read-only, which [`crate::Stream`] splices
/// into sockets. An error (out of file descriptors, say, or a system without memory files)
/// leaves the caller to keep the bytes in ordinary memory instead.
pub fn sealed(chunks: &[&[u8]]) -> io::Result<Bytes> {
    let len: usize = chunks.iter().map(|c| c.len()).sum();
    if len == 0 {
        // Nothing to map; an empty `Bytes` is never written anyway.
        return Ok(Bytes::new());
    }
    #[cfg(target_os = "linux")]
    return linux::map_sealed(chunks, len);
    #[cfg(not(target_os = "linux"))]
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(target_os = "linux")]
pub(crate) use linux::find;

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::BTreeMap;
    use std::fs::File;
    use std::io::{self, IoSlice, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, PoisonError, RwLock};

    use bytes::Bytes;
    use rustix::fs::{MemfdFlags, SealFlags};

    /// Every live mapping by start address: its length and the file behind it.
    static REGIONS: RwLock<BTreeMap<usize, (usize, Arc<File>)>> = RwLock::new(BTreeMap::new());
    /// How many mappings exist, so that writes skip the table while there are none.
    static COUNT: AtomicUsize = AtomicUsize::new(0);

    /// Owns one mapping; `Bytes` drops it with the last clone, which unlists it first.
    struct Mapping {
        map: memmap2::Mmap,
    }

    impl AsRef<[u8]> for Mapping {
        fn as_ref(&self) -> &[u8] {
            &self.map
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // Unlisted before the memory is unmapped (the field drops after this), so the table
            // never names an address that is no longer this file's.
            let mut regions = REGIONS.write().unwrap_or_else(PoisonError::into_inner);
            if regions.remove(&(self.map.as_ptr() as usize)).is_some() {
                COUNT.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    pub(super) fn map_sealed(chunks: &[&[u8]], len: usize) -> io::Result<Bytes> {
        let fd = rustix::fs::memfd_create(
            "ferrocast-media",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )?;
        let mut file = File::from(fd);
        for c in chunks {
            file.write_all(c)?;
        }
        rustix::fs::fcntl_add_seals(
            &file,
            SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
        )?;
        // SAFETY: the file is a memory file that only this process holds, sealed above against
        // every write, resize and further change of seals; the mapping is read-only. So the
        // mapped bytes can neither change nor disappear while the mapping exists.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file)? };
        if map.len() != len {
            return Err(io::Error::other("memory file has an unexpected length"));
        }
        let start = map.as_ptr() as usize;
        REGIONS
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(start, (len, Arc::new(file)));
        COUNT.fetch_add(1, Ordering::Relaxed);
        Ok(Bytes::from_owner(Mapping { map }))
    }

    /// The first of `bufs` that lies wholly within a sealed mapping: its index, the file and the
    /// offset in it. A buffer being written is borrowed from a live `Bytes`, so its mapping (and
    /// its entry here) outlives the lookup's use of it.
    pub(crate) fn find(bufs: &[IoSlice<'_>]) -> Option<(usize, Arc<File>, u64)> {
        if COUNT.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let regions = REGIONS.read().unwrap_or_else(PoisonError::into_inner);
        bufs.iter().enumerate().find_map(|(i, buf)| {
            if buf.is_empty() {
                return None;
            }
            let addr = buf.as_ptr() as usize;
            let (&start, (len, file)) = regions.range(..=addr).next_back()?;
            let offset = addr - start;
            (offset + buf.len() <= *len).then(|| (i, Arc::clone(file), offset as u64))
        })
    }

    #[cfg(test)]
    pub(super) fn is_listed(addr: usize) -> bool {
        let regions = REGIONS.read().unwrap_or_else(PoisonError::into_inner);
        regions.contains_key(&addr)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::IoSlice;

    use super::*;

    // One test, so no other test's mapping can take a freed address while it looks.
    #[test]
    fn sealed_bytes_are_found_with_their_offset_until_dropped() {
        let b = sealed(&[b"hello ", b"world"]).unwrap();
        assert_eq!(&b[..], b"hello world");
        let tail = b.slice(6..);
        let heap = Bytes::from(b"world".to_vec());
        let found = find(&[IoSlice::new(&heap), IoSlice::new(&tail)]);
        let (index, _, offset) = found.expect("a slice of sealed bytes is found");
        assert_eq!((index, offset), (1, 6));
        assert!(find(&[IoSlice::new(&heap)]).is_none());

        let addr = b.as_ptr() as usize;
        drop(tail);
        drop(b);
        assert!(!linux::is_listed(addr));
        assert!(sealed(&[]).unwrap().is_empty());
    }
}
