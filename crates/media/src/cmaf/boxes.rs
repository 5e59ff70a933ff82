//! ISO BMFF box writing with sizes patched when each box closes.

pub(crate) struct BoxWriter {
    pub(crate) buf: Vec<u8>,
}

impl BoxWriter {
    pub(crate) fn new() -> Self {
        Self { buf: Vec::new() }
    }

    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// Opens a box; pass the returned position to [`BoxWriter::end`].
    pub(crate) fn start(&mut self, fourcc: &[u8; 4]) -> usize {
        let pos = self.buf.len();
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(fourcc);
        pos
    }

    pub(crate) fn start_full(&mut self, fourcc: &[u8; 4], version: u8, flags: u32) -> usize {
        let pos = self.start(fourcc);
        self.u32((u32::from(version) << 24) | (flags & 0x00FF_FFFF));
        pos
    }

    pub(crate) fn end(&mut self, pos: usize) {
        let size = (self.buf.len() - pos) as u32;
        if let Some(slot) = self.buf.get_mut(pos..pos + 4) {
            slot.copy_from_slice(&size.to_be_bytes());
        }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    pub(crate) fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }

    /// Overwrites a u32 written earlier (used for trun data offsets known only at the end).
    pub(crate) fn patch_u32(&mut self, pos: usize, v: u32) {
        if let Some(slot) = self.buf.get_mut(pos..pos + 4) {
            slot.copy_from_slice(&v.to_be_bytes());
        }
    }
}
