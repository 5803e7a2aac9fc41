//! Reading the evidence outbox in order, from a cursor. A durable consumer (the SIEM
//! forwarder, a cluster peer) saves its cursor with [`EvidenceConsumer::ack`] after it has
//! handled a row, and resumes after it when restarted; the live event bus reads from where it
//! started, in memory. Rows from this process arrive at once (the store wakes consumers on
//! commit); rows from other processes (a CLI command, another node) within one poll interval.
//!
//! Delivery is in sequence order with no gap (see `evidence.rs` for why commits cannot
//! overtake each other). A durable consumer that crashes after handling a row and before its
//! `ack` reads that row again: at least once, never skipped.

use std::collections::VecDeque;
use std::time::Duration;

use crate::{EvidenceRow, Store, StoreError};

/// Where a consumer with no saved cursor starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Every row still in the outbox.
    Beginning,
    /// Rows written from now on.
    Now,
}

/// How often rows written by other processes are looked for.
const POLL: Duration = Duration::from_millis(200);
const BATCH: i64 = 500;

pub struct EvidenceConsumer {
    store: Store,
    /// `None`: in memory only.
    name: Option<String>,
    /// The last row handed out.
    cursor: i64,
    buffered: VecDeque<EvidenceRow>,
}

impl EvidenceConsumer {
    /// A named consumer: resumes after its saved cursor, or starts at `start`.
    pub async fn durable(store: &Store, name: &str, start: Start) -> Result<Self, StoreError> {
        let cursor = match store.consumer_cursor(name).await? {
            Some(seq) => seq,
            None => {
                let seq = match start {
                    Start::Beginning => 0,
                    Start::Now => store.last_evidence_seq().await?,
                };
                store.save_consumer_cursor(name, seq).await?;
                seq
            }
        };
        Ok(Self::at(store, Some(name.to_owned()), cursor))
    }

    /// An in-memory consumer of every row still in the outbox, oldest first.
    pub fn everything(store: &Store) -> Self {
        Self::at(store, None, 0)
    }

    /// An in-memory consumer of the rows written from now on.
    pub async fn live(store: &Store) -> Result<Self, StoreError> {
        let cursor = store.last_evidence_seq().await?;
        Ok(Self::at(store, None, cursor))
    }

    fn at(store: &Store, name: Option<String>, cursor: i64) -> Self {
        EvidenceConsumer {
            store: store.clone(),
            name,
            cursor,
            buffered: VecDeque::new(),
        }
    }

    /// The last row handed out (or where the consumer started).
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// The next row, waiting for one to be written.
    pub async fn next(&mut self) -> Result<EvidenceRow, StoreError> {
        loop {
            if let Some(row) = self.buffered.pop_front() {
                self.cursor = row.seq;
                return Ok(row);
            }
            // Armed before the read, so a commit between the read and the wait still wakes us.
            let signal = self.store.written.clone();
            let written = signal.notified();
            tokio::pin!(written);
            written.as_mut().enable();
            let rows = self.store.evidence_after(self.cursor, BATCH).await?;
            if rows.is_empty() {
                tokio::select! {
                    _ = written => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
            self.buffered.extend(rows);
        }
    }

    /// The next row if one is written already; `None` when the consumer has caught up.
    pub async fn try_next(&mut self) -> Result<Option<EvidenceRow>, StoreError> {
        if self.buffered.is_empty() {
            let rows = self.store.evidence_after(self.cursor, BATCH).await?;
            self.buffered.extend(rows);
        }
        Ok(self
            .buffered
            .pop_front()
            .inspect(|row| self.cursor = row.seq))
    }

    /// Saves the cursor of a durable consumer: every row up to `seq` is handled.
    pub async fn ack(&mut self, seq: i64) -> Result<(), StoreError> {
        match &self.name {
            Some(name) => self.store.save_consumer_cursor(name, seq).await,
            None => Ok(()),
        }
    }
}
