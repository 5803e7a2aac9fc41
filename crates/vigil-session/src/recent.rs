//! The end of a stream of output, as text: what a stage looks at to see a prompt or a
//! question. Only the last bytes of a chunk are converted, so a large output costs no more
//! than a small one.

/// The last `limit` bytes or so of what was shown (whole characters; invalid UTF-8 as U+FFFD).
#[derive(Debug, Clone)]
pub(crate) struct Recent {
    text: String,
    limit: usize,
}

impl Recent {
    pub(crate) fn new(limit: usize) -> Recent {
        Recent {
            text: String::new(),
            limit,
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        // A chunk longer than the limit leaves only its end; a character cut at the start
        // shows as U+FFFD, which no prompt or question ends with.
        let bytes = &bytes[bytes.len().saturating_sub(self.limit)..];
        self.text.push_str(&String::from_utf8_lossy(bytes));
        if self.text.len() > self.limit {
            let cut = self.text.len() - self.limit;
            let cut = (cut..self.text.len())
                .find(|i| self.text.is_char_boundary(*i))
                .unwrap_or(self.text.len());
            self.text.drain(..cut);
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    pub(crate) fn clear(&mut self) {
        self.text.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_end_is_kept_whatever_the_chunks() {
        let mut r = Recent::new(8);
        r.push(b"0123456789");
        assert_eq!(r.as_str(), "23456789");
        r.push(b"ab");
        assert_eq!(r.as_str(), "456789ab");
        r.push("é".as_bytes());
        assert_eq!(r.as_str(), "6789abé");
        r.clear();
        assert_eq!(r.as_str(), "");
    }
}
