//! Splitting a byte stream into text without losing a byte.
//!
//! Validation uses `simdutf8` (SIMD, several GB/s): every recorded byte of text output passes
//! here once. Invalid chunks are handed back as bytes; the lossy text a terminal would show is
//! built only by the writer, and only when it will be written.

use std::borrow::Cow;

/// Keeps the incomplete UTF-8 sequence at the end of one chunk for the next.
#[derive(Debug, Default)]
pub(crate) struct Utf8Carry {
    pending: Vec<u8>,
}

/// One chunk made ready for an asciicast event.
pub(crate) enum Text<'a> {
    /// Valid UTF-8: the event's text is exact.
    Exact(Cow<'a, str>),
    /// Contains bytes that are not UTF-8: kept exactly, for a `b` event.
    Invalid(Cow<'a, [u8]>),
}

impl Utf8Carry {
    /// Takes the next chunk; returns `None` when everything was carried.
    pub(crate) fn push<'a>(&mut self, chunk: &'a [u8]) -> Option<Text<'a>> {
        if self.pending.is_empty() {
            let keep = incomplete_tail(chunk);
            let (now, later) = chunk.split_at(chunk.len() - keep);
            self.pending.extend_from_slice(later);
            return text_of(Cow::Borrowed(now));
        }
        let mut joined = std::mem::take(&mut self.pending);
        joined.extend_from_slice(chunk);
        let keep = incomplete_tail(&joined);
        self.pending = joined.split_off(joined.len() - keep);
        text_of(Cow::Owned(joined))
    }

    /// Hands back what is carried (at most three bytes) without judging it: the caller writes
    /// it exactly, ahead of a chunk that goes out as bytes.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    /// Whatever is still carried when the stream ends: by then it can only be invalid.
    pub(crate) fn finish(&mut self) -> Option<Text<'static>> {
        text_of(Cow::Owned(self.take()))
    }
}

fn text_of(bytes: Cow<'_, [u8]>) -> Option<Text<'_>> {
    if bytes.is_empty() {
        return None;
    }
    Some(match bytes {
        Cow::Borrowed(b) => match simdutf8::basic::from_utf8(b) {
            Ok(s) => Text::Exact(Cow::Borrowed(s)),
            Err(_) => Text::Invalid(Cow::Borrowed(b)),
        },
        Cow::Owned(v) => match simdutf8::basic::from_utf8(&v) {
            // Validated just above: the std conversion cannot fail, and takes the vector as is.
            Ok(_) => match String::from_utf8(v) {
                Ok(s) => Text::Exact(Cow::Owned(s)),
                Err(e) => Text::Invalid(Cow::Owned(e.into_bytes())),
            },
            Err(_) => Text::Invalid(Cow::Owned(v)),
        },
    })
}

/// True when `bytes` holds a sequence that is not UTF-8, apart from a sequence cut short at
/// either end (its other part travels in the neighbouring chunk). A cheap SIMD check, used to
/// classify a chunk when it arrives.
pub(crate) fn has_invalid_utf8(bytes: &[u8]) -> bool {
    let lead = bytes
        .iter()
        .take(3)
        .take_while(|b| **b & 0xC0 == 0x80)
        .count();
    let body = &bytes[lead..];
    let body = &body[..body.len() - incomplete_tail(body)];
    simdutf8::basic::from_utf8(body).is_err()
}

/// Length of a UTF-8 sequence cut short at the end of `bytes` (0 to 3), which may still be
/// completed by the next chunk.
fn incomplete_tail(bytes: &[u8]) -> usize {
    let start = bytes.len().saturating_sub(3);
    for i in (start..bytes.len()).rev() {
        let b = bytes[i];
        if b & 0xC0 == 0x80 {
            continue; // continuation byte: look further back for the lead
        }
        let need = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0,
        };
        let have = bytes.len() - i;
        return if have < need && std::str::from_utf8(&bytes[i..]).is_err() {
            have
        } else {
            0
        };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(chunks: &[&[u8]]) -> (String, Vec<u8>) {
        let mut carry = Utf8Carry::default();
        let (mut text, mut bytes) = (String::new(), Vec::new());
        let mut take = |t: Option<Text<'_>>| match t {
            Some(Text::Exact(s)) => {
                text.push_str(&s);
                bytes.extend_from_slice(s.as_bytes());
            }
            Some(Text::Invalid(raw)) => {
                text.push_str(&String::from_utf8_lossy(&raw));
                bytes.extend_from_slice(&raw);
            }
            None => {}
        };
        for c in chunks {
            take(carry.push(c));
        }
        take(carry.finish());
        (text, bytes)
    }

    #[test]
    fn split_sequences_are_carried() {
        let euro = "€".as_bytes(); // 3 bytes
        let (text, bytes) = collect(&[b"a", &euro[..1], &euro[1..2], &euro[2..], b"b"]);
        assert_eq!(text, "a€b");
        assert_eq!(bytes, "a€b".as_bytes());
    }

    #[test]
    fn invalid_bytes_survive() {
        let (text, bytes) = collect(&[b"x\xff\xfey", b"\xe2\x82"]);
        assert_eq!(bytes, b"x\xff\xfey\xe2\x82");
        assert!(text.contains('\u{FFFD}'));
    }

    #[test]
    fn invalid_means_invalid_inside_not_cut_at_the_ends() {
        let euro = "€".as_bytes();
        let table: &[(&[u8], bool)] = &[
            (b"plain ascii", false),
            ("olá 世界".as_bytes(), false),
            (&euro[1..], false), // the rest of a sequence begun in the last chunk
            (&euro[..2], false), // a sequence the next chunk completes
            (b"a\xffb", true),   // a byte that is never UTF-8
            (b"\xc0\xafabc", true), // an overlong encoding
            (b"ab\x80\x80\x80\x80", true), // more continuation bytes than any sequence has
        ];
        for (bytes, want) in table {
            assert_eq!(has_invalid_utf8(bytes), *want, "{bytes:?}");
        }
    }
}
