//! One destination's queue and the task that empties it. The task owns the connection:
//! it connects (retrying with backoff while the receiver is down), reports the events it had
//! to drop as soon as the receiver takes messages again, and sends the rest in order. Nothing
//! here can make a session wait: the only way in is [`Outlet::offer`], which never blocks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vigil_siem::Event;

use crate::connection::{Connection, SendError};
use crate::destination::{Destination, Transport};
use crate::queue::Queue;

const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How often an idle task looks at its connection and its drops.
const IDLE_TICK: Duration = Duration::from_secs(1);
/// Drops are logged at most this often.
const DROP_LOG_EVERY: Duration = Duration::from_secs(60);

/// What the task is doing, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutletState {
    /// `connecting`, `connected` (TCP, TLS), `sending` (UDP) or `down`.
    pub(crate) state: &'static str,
    pub(crate) last_error: Option<String>,
}

pub(crate) struct Outlet {
    pub(crate) destination: Destination,
    queue: Queue<Arc<Event>>,
    sent: AtomicU64,
    state: Mutex<OutletState>,
}

impl Outlet {
    pub(crate) fn new(destination: Destination) -> Arc<Outlet> {
        Arc::new(Outlet {
            queue: Queue::new(destination.queue_size),
            destination,
            sent: AtomicU64::new(0),
            state: Mutex::new(OutletState {
                state: "connecting",
                last_error: None,
            }),
        })
    }

    /// Queues `event` if this destination wants it; never waits.
    pub(crate) fn offer(&self, event: &Arc<Event>) {
        if self.destination.wants(event) {
            self.queue.push(Arc::clone(event));
        }
    }

    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.queue.dropped()
    }

    pub(crate) fn state(&self) -> OutletState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_state(&self, state: &'static str, error: Option<&SendError>) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.state = state;
        if let Some(e) = error {
            s.last_error = Some(e.to_string());
        }
    }

    fn up_state(&self) -> &'static str {
        match self.destination.transport {
            Transport::Udp => "sending",
            _ => "connected",
        }
    }

    /// Empties the queue into the destination, forever.
    pub(crate) async fn run(self: Arc<Self>, node: String) {
        let url = self.destination.url.clone();
        let mut connection: Option<Connection> = None;
        let mut backoff = BACKOFF_MIN;
        let mut reported = 0u64;
        let mut logged = 0u64;
        let mut last_log: Option<Instant> = None;
        loop {
            let dropped = self.queue.dropped();
            if dropped > logged && last_log.is_none_or(|t| t.elapsed() >= DROP_LOG_EVERY) {
                tracing::warn!(destination = %url, dropped = dropped - logged, total = dropped, "SIEM events dropped: the destination is slow or unreachable");
                logged = dropped;
                last_log = Some(Instant::now());
            }
            let Some(conn) = connection.as_mut() else {
                self.set_state("connecting", None);
                match Connection::open(&self.destination).await {
                    Ok(c) => {
                        connection = Some(c);
                        backoff = BACKOFF_MIN;
                        self.set_state(self.up_state(), None);
                        tracing::info!(destination = %url, "SIEM destination connected");
                    }
                    Err(e) => {
                        tracing::debug!(destination = %url, error = %e, "SIEM destination unreachable");
                        self.set_state("down", Some(&e));
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                    }
                }
                continue;
            };
            if dropped > reported {
                let report = vigil_siem::dropped_event(
                    dropped - reported,
                    &url,
                    &node,
                    vigil_core::now_millis(),
                );
                match conn.send(&self.destination.message(&report)).await {
                    Ok(()) => reported = dropped,
                    Err(e) => {
                        self.fail(&mut connection, &e, &mut backoff).await;
                        continue;
                    }
                }
            }
            let event = tokio::select! {
                event = self.queue.pop() => event,
                _ = tokio::time::sleep(IDLE_TICK) => {
                    // Nothing to send: notice a receiver that went away, and retry.
                    if conn.closed_by_peer() {
                        self.fail(&mut connection, &SendError::Closed, &mut backoff).await;
                    }
                    continue;
                }
            };
            match conn.send(&self.destination.message(&event)).await {
                Ok(()) => {
                    self.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    self.queue.put_back(event);
                    self.fail(&mut connection, &e, &mut backoff).await;
                }
            }
        }
    }

    async fn fail(
        &self,
        connection: &mut Option<Connection>,
        e: &SendError,
        backoff: &mut Duration,
    ) {
        tracing::debug!(destination = %self.destination.url, error = %e, "SIEM send failed");
        self.set_state("down", Some(e));
        if let Some(c) = connection.take() {
            c.close().await;
        }
        // A stream the receiver closed is usually a receiver that restarted: retry at once.
        if !matches!(e, SendError::Closed) {
            tokio::time::sleep(*backoff).await;
            *backoff = (*backoff * 2).min(BACKOFF_MAX);
        }
    }
}
