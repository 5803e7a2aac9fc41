//! A terminal the operator asked for, kept until the channel's program starts (the menu may
//! change its size; it is replayed on the target).

use russh::Pty;

#[derive(Debug, Clone)]
pub(crate) struct PtyRequest {
    pub(crate) term: String,
    pub(crate) cols: u32,
    pub(crate) rows: u32,
    pub(crate) pix_width: u32,
    pub(crate) pix_height: u32,
    pub(crate) modes: Vec<(Pty, u32)>,
}
