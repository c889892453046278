//! The arguments of one request, as both codecs' parsers leave them: spans into the bytes that
//! hold them (the connection's read buffer, or a parser's own buffer of decoded inline
//! arguments), so executing a request copies none of its arguments. Spans are 32-bit, which is
//! why no query may exceed `u32::MAX` bytes.

/// Where one argument lies in the bytes its request was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub len: u32,
}

impl Span {
    /// The span of `len` bytes from `start`; both are below the query limit, so they fit.
    pub fn new(start: usize, len: usize) -> Span {
        Span {
            start: start as u32,
            len: len as u32,
        }
    }

    fn range(self) -> std::ops::Range<usize> {
        let start = self.start as usize;
        start..start + self.len as usize
    }
}

/// The strings of one request (a name, then its arguments), without copying them.
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    buf: &'a [u8],
    spans: &'a [Span],
}

impl<'a> Args<'a> {
    /// The arguments `spans` marks out in `buf`; every span lies within `buf`.
    pub fn new(buf: &'a [u8], spans: &'a [Span]) -> Args<'a> {
        Args { buf, spans }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn get(&self, index: usize) -> &'a [u8] {
        &self.buf[self.spans[index].range()]
    }

    /// Everything after the first string (the action's arguments after its name).
    pub fn skip_first(&self) -> Args<'a> {
        self.skip(1)
    }

    /// Everything after the first `count` strings.
    pub fn skip(&self, count: usize) -> Args<'a> {
        Args {
            buf: self.buf,
            spans: self.spans.get(count..).unwrap_or(&[]),
        }
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let buf = self.buf;
        self.spans.iter().map(move |span| &buf[span.range()])
    }

    /// Consecutive pairs `(args[0], args[1]), (args[2], args[3]), …`; an odd last one is dropped.
    pub fn pairs(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let this = *self;
        (0..self.len() / 2).map(move |i| (this.get(2 * i), this.get(2 * i + 1)))
    }
}
