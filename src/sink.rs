//! Where answers are written: the one output interface both protocols' encoders write to. A
//! plain `Vec<u8>` is one (for tests and tools); a connection's output is the other, which can
//! also queue a shared value without copying it and knows how much more it may hold.

use std::sync::Arc;

/// Longest decimal rendering of a u64 (18446744073709551615).
pub const U64_MAX_DIGITS: usize = 20;

/// Renders `value` in decimal into the end of `digits` and returns that part: the one number
/// formatter both protocols' encoders use, without allocating.
pub fn decimal(mut value: u64, digits: &mut [u8; U64_MAX_DIGITS]) -> &[u8] {
    let mut start = U64_MAX_DIGITS;
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return &digits[start..];
        }
    }
}

/// Where response bytes go: a plain `Vec<u8>`, or a connection's output, which can also queue
/// a shared value without copying it and knows how much more it may take.
pub trait Sink {
    fn put(&mut self, bytes: &[u8]);

    fn put_byte(&mut self, byte: u8) {
        self.put(&[byte]);
    }

    /// Queues a shared value; a plain buffer copies it.
    fn put_shared(&mut self, value: &Arc<[u8]>) {
        self.put(value);
    }

    /// How many more bytes this output may hold before its client goes over the memory the
    /// server allows for clients. An answer that cannot fit is refused before it is built.
    fn room(&self) -> usize {
        usize::MAX
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn put_byte(&mut self, byte: u8) {
        self.push(byte);
    }
}
