//! Keeps injected passwords off the operator's screen and out of the recording, should the
//! target ever echo one: every occurrence in the output is replaced by as many `*`.
//!
//! Streaming: a chunk that ends with the start of a password keeps that start back until the
//! next chunk says whether the password follows, so no cut of the output shows any of it.
//! The cost, chosen over showing a piece of a password: output that happens to end with the
//! first characters of an injected password (a prompt ending in a space, for a password that
//! starts with one) shows them only with the next output. Only channels where a password was
//! injected pay it.

/// The passwords to hide, and what is kept back.
#[derive(Default)]
pub(crate) struct Redactor {
    secrets: Vec<Vec<u8>>,
    kept: Vec<u8>,
}

impl Redactor {
    /// Hides `secret` from now on (once it was sent to the target).
    pub(crate) fn hide(&mut self, secret: &[u8]) {
        if !secret.is_empty() && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_vec());
        }
    }

    /// The output to show for `data`: passwords masked, the start of one kept back. Until
    /// a password was injected, `data` itself.
    pub(crate) fn filter(&mut self, data: Vec<u8>) -> Vec<u8> {
        if self.secrets.is_empty() {
            return data;
        }
        let mut all = std::mem::take(&mut self.kept);
        all.extend_from_slice(&data);
        for secret in &self.secrets {
            mask(&mut all, secret);
        }
        let keep = self
            .secrets
            .iter()
            .map(|s| partial_at_end(&all, s))
            .max()
            .unwrap_or(0);
        self.kept = all.split_off(all.len() - keep);
        all
    }
}

fn mask(data: &mut [u8], secret: &[u8]) {
    let mut at = 0;
    while at + secret.len() <= data.len() {
        if &data[at..at + secret.len()] == secret {
            data[at..at + secret.len()].fill(b'*');
            at += secret.len();
        } else {
            at += 1;
        }
    }
}

/// The length of the longest end of `data` that is a proper start of `secret`.
fn partial_at_end(data: &[u8], secret: &[u8]) -> usize {
    (1..secret.len().min(data.len() + 1))
        .rev()
        .find(|&n| data.ends_with(&secret[..n]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_password_is_masked_whole_and_across_chunks() {
        let mut r = Redactor::default();
        assert_eq!(r.filter(b"before".to_vec()), b"before");
        r.hide(b"hunter2");
        assert_eq!(r.filter(b"x hunter2 y".to_vec()), b"x ******* y");
        assert_eq!(r.filter(b"abc hun".to_vec()), b"abc ");
        assert_eq!(r.filter(b"ter2 done".to_vec()), b"******* done");
        assert_eq!(r.filter(b"h".to_vec()), b"");
        assert_eq!(r.filter(b"ello".to_vec()), b"hello");
        assert_eq!(r.filter(b"hunt".to_vec()), b"");
        assert_eq!(r.filter(b"!".to_vec()), b"hunt!");
    }

    proptest! {
        /// However the output is cut, no chunk shown holds the password, and what is shown
        /// (with the final flush) is the output with every occurrence masked.
        #[test]
        fn no_cut_shows_the_password(
            before in "[a-z ]{0,20}",
            after in "[a-z ]{0,20}",
            cuts in proptest::collection::vec(0usize..60, 0..6),
        ) {
            let secret = b"s3cr3t-pw";
            let mut text = before.clone().into_bytes();
            text.extend_from_slice(secret);
            text.extend_from_slice(after.as_bytes());
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (text.len() + 1)).collect();
            cuts.sort();
            let mut r = Redactor::default();
            r.hide(secret);
            let mut shown = Vec::new();
            let mut last = 0;
            for c in cuts.into_iter().chain([text.len()]) {
                let part = r.filter(text[last..c].to_vec());
                prop_assert!(!part.windows(secret.len()).any(|w| w == secret));
                shown.extend(part);
                last = c;
            }
            shown.extend(std::mem::take(&mut r.kept));
            let mut want = text.clone();
            mask(&mut want, secret);
            prop_assert_eq!(shown, want);
        }
    }
}
