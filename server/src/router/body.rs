//! A response body on its way through the router's byte-for-byte path:
//! passed as it comes, its framing followed to find where it ends (a
//! length, chunks, or the app's close, which is re-framed as chunks for the
//! client), so that the connection to the app can serve the next request.

use std::io::Write as _;

use bytes::{Buf, BytesMut};

/// How a response's body ends.
#[derive(Clone, Copy)]
pub(super) enum Framing {
    None,
    Length(u64),
    Chunked,
    /// Up to the app's close (passed on chunked).
    Close,
}

/// Where a response's body is: how much of it is left.
pub(super) enum Body {
    None,
    Length(u64),
    Chunked(Chunks),
    Close,
}

impl Body {
    pub fn new(framing: Framing) -> Self {
        match framing {
            Framing::None => Body::None,
            Framing::Length(n) => Body::Length(n),
            Framing::Chunked => Body::Chunked(Chunks::default()),
            Framing::Close => Body::Close,
        }
    }

    /// Move the body's bytes at the start of `from` to `to` (framed for the
    /// client); returns the payload bytes moved and whether the body ended,
    /// or `None` for a body that is not what its framing says.
    pub fn take(&mut self, from: &mut BytesMut, to: &mut Vec<u8>) -> Option<(usize, bool)> {
        Some(match self {
            Body::None => (0, true),
            Body::Length(left) => {
                let n = from.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                to.extend_from_slice(&from[..n]);
                from.advance(n);
                *left -= n as u64;
                (n, *left == 0)
            }
            Body::Chunked(chunks) => {
                let (used, payload) = chunks.feed(from);
                if chunks.state == ChunkState::Broken {
                    return None;
                }
                to.extend_from_slice(&from[..used]);
                from.advance(used);
                (payload, chunks.done())
            }
            Body::Close => {
                let n = from.len();
                if n > 0 {
                    let _ = write!(to, "{n:x}\r\n");
                    to.extend_from_slice(from);
                    to.extend_from_slice(b"\r\n");
                    from.clear();
                }
                (n, false)
            }
        })
    }
}

/// A chunked body passed through as it is, followed to find its end.
#[derive(Default)]
pub(super) struct Chunks {
    state: ChunkState,
    /// The chunk size being read.
    size: u64,
}

#[derive(Default, PartialEq, Eq, Clone, Copy)]
enum ChunkState {
    #[default]
    Size,
    /// After the size: extensions, up to the line's end.
    SizeLine,
    Data(u64),
    /// The line end after a chunk's data.
    DataEnd,
    /// At the start of a trailer line (or the final empty line).
    Trailer,
    TrailerLine,
    /// The final line's LF.
    End,
    Done,
    Broken,
}

impl Chunks {
    /// Follow `bytes`; returns how many belong to the body (all of them, or
    /// up to its end) and how many of those were payload.
    fn feed(&mut self, bytes: &[u8]) -> (usize, usize) {
        let (mut at, mut payload) = (0, 0);
        while at < bytes.len() {
            let byte = bytes[at];
            self.state = match self.state {
                ChunkState::Done | ChunkState::Broken => break,
                ChunkState::Data(left) => {
                    let n = (bytes.len() - at).min(usize::try_from(left).unwrap_or(usize::MAX));
                    at += n;
                    payload += n;
                    self.state = if left == n as u64 { ChunkState::DataEnd } else { ChunkState::Data(left - n as u64) };
                    continue;
                }
                ChunkState::Size => match (byte as char).to_digit(16) {
                    Some(digit) if self.size >> 60 == 0 => {
                        self.size = self.size * 16 + u64::from(digit);
                        ChunkState::Size
                    }
                    None if matches!(byte, b';' | b' ' | b'\t' | b'\r') => ChunkState::SizeLine,
                    None if byte == b'\n' => self.size_read(),
                    _ => ChunkState::Broken,
                },
                ChunkState::SizeLine if byte == b'\n' => self.size_read(),
                ChunkState::SizeLine => ChunkState::SizeLine,
                ChunkState::DataEnd => match byte {
                    b'\r' => ChunkState::DataEnd,
                    b'\n' => ChunkState::Size,
                    _ => ChunkState::Broken,
                },
                ChunkState::Trailer => match byte {
                    b'\r' => ChunkState::End,
                    b'\n' => ChunkState::Done,
                    _ => ChunkState::TrailerLine,
                },
                ChunkState::TrailerLine if byte == b'\n' => ChunkState::Trailer,
                ChunkState::TrailerLine => ChunkState::TrailerLine,
                ChunkState::End if byte == b'\n' => ChunkState::Done,
                ChunkState::End => ChunkState::Broken,
            };
            at += 1;
        }
        (at, payload)
    }

    fn size_read(&mut self) -> ChunkState {
        let size = std::mem::take(&mut self.size);
        if size == 0 {
            ChunkState::Trailer
        } else {
            ChunkState::Data(size)
        }
    }

    fn done(&self) -> bool {
        self.state == ChunkState::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(pieces: &[&[u8]]) -> (Vec<usize>, usize, bool) {
        let mut chunks = Chunks::default();
        let mut used = Vec::new();
        let mut payload = 0;
        for piece in pieces {
            let (n, p) = chunks.feed(piece);
            used.push(n);
            payload += p;
        }
        (used, payload, chunks.done())
    }

    #[test]
    fn a_chunked_body_is_followed_to_its_end_across_reads() {
        let body: &[u8] = b"5\r\nhello\r\n10;ext=1\r\n0123456789abcdef\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        let (used, payload, done) = chunked(&[body]);
        assert_eq!((used, payload, done), (vec![body.len() - 4], 21, true));
        // Split at every byte: the same end.
        let pieces: Vec<&[u8]> = body.chunks(1).collect();
        let (used, payload, done) = chunked(&pieces);
        assert_eq!((used.iter().sum::<usize>(), payload, done), (body.len() - 4, 21, true));
        let (_, _, done) = chunked(&[b"5\r\nhel"]);
        assert!(!done);
        let (_, _, done) = chunked(&[b"0\r\n\r\n"]);
        assert!(done);
        let (_, _, done) = chunked(&[b"zz\r\n"]);
        assert!(!done, "a broken body never ends cleanly");
    }
}
