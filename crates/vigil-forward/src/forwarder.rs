//! The forwarder: reads the evidence outbox from its durable cursor, turns each row into a
//! SIEM event with what it knows of the row's session, and offers it to every destination's
//! queue. It is the only reader of the outbox for SIEMs, so every administrator action and
//! session event reaches them by the same path as the session log.
//!
//! The cursor is saved after the rows are queued (at least every second while busy): a
//! restart resends at most that second. A node that stops drains its queues first (a few
//! seconds at most); events still queued after that are not sent, and the outbox still has
//! them (`vigil events`).
//!
//! In a cluster one node forwards at a time: the one holding the `siem` lease in the store
//! (renewed every second while it reads, [`LEASE`] long). Should it die, another node takes
//! the lease once it expires and goes on from the shared cursor: at most the last second's
//! events are sent twice, none are lost. Every node should name the same destinations.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_core::EventKind;
use vigil_siem::{Evidence, SessionFacts, event_of};
use vigil_store::{EvidenceConsumer, EvidenceRow, SiemStatus, Start, Store, StoreError};

use crate::destination::Destination;
use crate::outlet::Outlet;

/// The outbox consumer's name: its cursor is kept under it.
pub const CONSUMER: &str = "siem";
/// Sessions whose facts are kept at once (a session's are dropped at its end).
const FACTS_KEPT: usize = 10_000;
const ACK_EVERY: Duration = Duration::from_secs(1);
const REPORT_EVERY: Duration = Duration::from_secs(2);
/// How long the forwarding node's lease lasts unrenewed.
pub(crate) const LEASE: Duration = Duration::from_secs(10);

/// The running forwarder of one node.
pub struct Forwarder {
    node: String,
    outlets: Vec<Arc<Outlet>>,
    store: Store,
    /// The last outbox row offered to the destinations.
    handled: Arc<std::sync::atomic::AtomicI64>,
}

impl Forwarder {
    /// Starts a task per destination, the outbox reader and the status reports. With no
    /// destination nothing starts and no cursor is kept.
    pub async fn start(
        store: Store,
        node: &str,
        destinations: Vec<Destination>,
    ) -> Result<Arc<Forwarder>, StoreError> {
        let forwarder = Arc::new(Forwarder {
            node: node.to_owned(),
            outlets: destinations.into_iter().map(Outlet::new).collect(),
            store: store.clone(),
            handled: Arc::new(std::sync::atomic::AtomicI64::new(0)),
        });
        store.clear_siem_status(node).await?;
        if forwarder.outlets.is_empty() {
            return Ok(forwarder);
        }
        // The first start forwards from now on, not the whole history; later starts resume.
        let consumer = EvidenceConsumer::durable(&store, CONSUMER, Start::Now).await?;
        forwarder
            .handled
            .store(consumer.cursor(), std::sync::atomic::Ordering::SeqCst);
        for outlet in &forwarder.outlets {
            tokio::spawn(Arc::clone(outlet).run(node.to_owned()));
        }
        tokio::spawn(read_outbox(
            store.clone(),
            node.to_owned(),
            consumer,
            forwarder.outlets.clone(),
            Arc::clone(&forwarder.handled),
        ));
        tokio::spawn(report(store, Arc::clone(&forwarder)));
        Ok(forwarder)
    }

    /// Waits (at most `limit`) until every row written so far is offered and every queue is
    /// empty: a node that stops sends the evidence of its last moments (the `ended` of each
    /// session it shut down) first. A receiver that is down makes this wait the whole limit.
    pub async fn drain(&self, limit: Duration) {
        if self.outlets.is_empty() {
            return;
        }
        let deadline = Instant::now() + limit;
        let Ok(last) = self.store.last_evidence_seq().await else {
            return;
        };
        while Instant::now() < deadline {
            let offered = self.handled.load(std::sync::atomic::Ordering::SeqCst) >= last;
            if offered && self.outlets.iter().all(|o| o.queued() == 0) {
                // The last event popped may still be on its way out.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left: usize = self.outlets.iter().map(|o| o.queued()).sum();
        tracing::warn!(
            left,
            "stopping with SIEM events still queued (a destination is slow or down); the outbox keeps them"
        );
    }

    /// What each destination is doing now.
    pub fn reports(&self) -> Vec<SiemStatus> {
        let now = vigil_core::now_millis();
        self.outlets
            .iter()
            .map(|o| {
                let state = o.state();
                SiemStatus {
                    node: self.node.clone(),
                    destination: o.destination.url.clone(),
                    format: o.destination.format.as_str().to_owned(),
                    state: state.state.to_owned(),
                    queued: i64::try_from(o.queued()).unwrap_or(i64::MAX),
                    sent: i64::try_from(o.sent()).unwrap_or(i64::MAX),
                    dropped: i64::try_from(o.dropped()).unwrap_or(i64::MAX),
                    last_error: state.last_error,
                    updated_at: now,
                }
            })
            .collect()
    }
}

/// Whether this node holds (or has just taken) the forwarding lease.
async fn hold_lease(store: &Store, node: &str) -> bool {
    let ms = i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
    match store.take_job_lease(CONSUMER, node, ms).await {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(error = %e, "cannot take the SIEM forwarding lease");
            false
        }
    }
}

async fn read_outbox(
    store: Store,
    node: String,
    mut consumer: EvidenceConsumer,
    outlets: Vec<Arc<Outlet>>,
    handled: Arc<std::sync::atomic::AtomicI64>,
) {
    let mut facts = Facts::default();
    let mut unacked = None;
    let mut last_ack = Instant::now();
    let mut leading = false;
    // Whether another node may have moved the shared cursor past this consumer's position.
    let mut behind = false;
    loop {
        if !leading {
            // Another node forwards: wait for its lease to lapse, then go on from the cursor
            // it saved.
            while !hold_lease(&store, &node).await {
                behind = true;
                tokio::time::sleep(ACK_EVERY).await;
            }
            if behind {
                match EvidenceConsumer::durable(&store, CONSUMER, Start::Now).await {
                    Ok(c) => consumer = c,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the SIEM forwarder's cursor; retrying");
                        tokio::time::sleep(ACK_EVERY).await;
                        continue;
                    }
                }
                // An ack this node could not save is older than the cursor it now holds.
                unacked = None;
                behind = false;
            }
            leading = true;
        }
        let next = tokio::time::timeout(ACK_EVERY, consumer.next()).await;
        if next.is_err() || last_ack.elapsed() >= ACK_EVERY {
            if let Some(seq) = unacked {
                match consumer.ack(seq).await {
                    Ok(()) => unacked = None,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot save the SIEM forwarder's cursor")
                    }
                }
            }
            last_ack = Instant::now();
            if !hold_lease(&store, &node).await {
                // Lost (this node was away longer than the lease): the row just read is the
                // new holder's to send.
                leading = false;
                behind = true;
                continue;
            }
        }
        let row = match next {
            Err(_) => continue,
            Ok(Ok(row)) => row,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot read the evidence outbox for SIEMs; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let session = facts.of(&store, &row).await;
        let evidence = Evidence {
            seq: row.seq,
            at: row.at,
            origin: &row.origin,
            kind: &row.kind,
            session_id: row.session_id.as_deref(),
            actor: row.actor.as_deref(),
            subject: &row.subject,
            detail: &row.detail,
        };
        if let Some(event) = event_of(&evidence, session.as_ref()) {
            let event = Arc::new(event);
            for outlet in &outlets {
                outlet.offer(&event);
            }
        }
        if row.kind == EventKind::Ended.as_str()
            && let Some(id) = &row.session_id
        {
            facts.forget(id);
        }
        unacked = Some(row.seq);
        handled.store(row.seq, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Who ran each session, read from the store once per session (again at its start on the
/// target and at its end, when the target and the final risk are known).
#[derive(Default)]
struct Facts {
    known: HashMap<String, SessionFacts>,
}

impl Facts {
    async fn of(&mut self, store: &Store, row: &EvidenceRow) -> Option<SessionFacts> {
        let id = row.session_id.as_deref()?;
        let stale =
            row.kind == EventKind::Connected.as_str() || row.kind == EventKind::Ended.as_str();
        if !stale && let Some(f) = self.known.get(id) {
            return Some(f.clone());
        }
        let port = self.known.get(id).and_then(|f| f.port);
        let s = match store.session(id).await {
            Ok(s) => s,
            Err(StoreError::NotFound(_)) => return None,
            Err(e) => {
                tracing::warn!(session = id, error = %e, "cannot read a session for its SIEM events");
                return None;
            }
        };
        let port = port_in(&row.detail).or(port);
        let f = SessionFacts {
            user: s.user_name,
            client: s.client_addr,
            target: s.target_name,
            login: s.login,
            port,
            protocol: s.protocol,
            started_at: s.started_at,
            risk: s.risk,
        };
        if self.known.len() >= FACTS_KEPT {
            self.known.clear();
        }
        self.known.insert(id.to_owned(), f.clone());
        Some(f)
    }

    fn forget(&mut self, id: &str) {
        self.known.remove(id);
    }
}

/// The target port a `connected` row names.
fn port_in(detail: &str) -> Option<u16> {
    let v: serde_json::Value = serde_json::from_str(detail).ok()?;
    u16::try_from(v.get("port")?.as_u64()?).ok()
}

/// Writes the destinations' reports to the store when they change (and every 30 s).
async fn report(store: Store, forwarder: Arc<Forwarder>) {
    let mut last: Vec<SiemStatus> = Vec::new();
    let mut last_write = Instant::now();
    loop {
        let now = forwarder.reports();
        let same = now.len() == last.len()
            && now.iter().zip(&last).all(|(a, b)| {
                SiemStatus {
                    updated_at: 0,
                    ..a.clone()
                } == SiemStatus {
                    updated_at: 0,
                    ..b.clone()
                }
            });
        if !same || last_write.elapsed() >= Duration::from_secs(30) {
            match store.save_siem_status(&now).await {
                Ok(()) => {
                    last = now;
                    last_write = Instant::now();
                }
                Err(e) => tracing::warn!(error = %e, "cannot save the SIEM destinations' status"),
            }
        }
        tokio::time::sleep(REPORT_EVERY).await;
    }
}
