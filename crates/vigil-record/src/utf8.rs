//! Splitting a byte stream into text without losing a byte.

/// Keeps the incomplete UTF-8 sequence at the end of one chunk for the next.
#[derive(Debug, Default)]
pub(crate) struct Utf8Carry {
    pending: Vec<u8>,
}

/// One chunk made ready for an asciicast event.
pub(crate) enum Text<'a> {
    /// Valid UTF-8: the event's text is exact.
    Exact(std::borrow::Cow<'a, str>),
    /// Contains invalid bytes: show `lossy`, keep `raw` in a `b` extension event.
    Lossy { lossy: String, raw: Vec<u8> },
}

impl Utf8Carry {
    /// Takes the next chunk; returns `None` when everything was carried.
    pub(crate) fn push<'a>(&mut self, chunk: &'a [u8]) -> Option<Text<'a>> {
        if self.pending.is_empty() {
            let keep = incomplete_tail(chunk);
            let (now, later) = chunk.split_at(chunk.len() - keep);
            self.pending.extend_from_slice(later);
            return text_of(std::borrow::Cow::Borrowed(now));
        }
        let mut joined = std::mem::take(&mut self.pending);
        joined.extend_from_slice(chunk);
        let keep = incomplete_tail(&joined);
        self.pending = joined.split_off(joined.len() - keep);
        text_of(std::borrow::Cow::Owned(joined))
    }

    /// Whatever is still carried when the stream ends: by then it can only be invalid.
    pub(crate) fn finish(&mut self) -> Option<Text<'static>> {
        let rest = std::mem::take(&mut self.pending);
        text_of(std::borrow::Cow::Owned(rest))
    }
}

fn text_of(bytes: std::borrow::Cow<'_, [u8]>) -> Option<Text<'_>> {
    if bytes.is_empty() {
        return None;
    }
    Some(match bytes {
        std::borrow::Cow::Borrowed(b) => match std::str::from_utf8(b) {
            Ok(s) => Text::Exact(std::borrow::Cow::Borrowed(s)),
            Err(_) => Text::Lossy {
                lossy: String::from_utf8_lossy(b).into_owned(),
                raw: b.to_vec(),
            },
        },
        std::borrow::Cow::Owned(v) => match String::from_utf8(v) {
            Ok(s) => Text::Exact(std::borrow::Cow::Owned(s)),
            Err(e) => {
                let raw = e.into_bytes();
                Text::Lossy {
                    lossy: String::from_utf8_lossy(&raw).into_owned(),
                    raw,
                }
            }
        },
    })
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
            Some(Text::Lossy { lossy, raw }) => {
                text.push_str(&lossy);
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
}
