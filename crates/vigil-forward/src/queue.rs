//! A destination's queue: bounded, and never makes the writer wait. When it is full the
//! oldest event goes (the newest say more about what is happening now) and is counted.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

pub(crate) struct Queue<T> {
    items: Mutex<VecDeque<T>>,
    capacity: usize,
    ready: Notify,
    dropped: AtomicU64,
}

impl<T> Queue<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        Queue {
            items: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            capacity: capacity.max(1),
            ready: Notify::new(),
            dropped: AtomicU64::new(0),
        }
    }

    fn items(&self) -> std::sync::MutexGuard<'_, VecDeque<T>> {
        // A panic while holding the lock leaves a queue of whole items: keep using it.
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `item` at the back, dropping the oldest when full.
    pub(crate) fn push(&self, item: T) {
        {
            let mut items = self.items();
            if items.len() >= self.capacity {
                items.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            items.push_back(item);
        }
        self.ready.notify_one();
    }

    /// Puts back an item that could not be sent, first in line; when the queue filled up
    /// meanwhile it is the oldest, and is dropped.
    pub(crate) fn put_back(&self, item: T) {
        let mut items = self.items();
        if items.len() >= self.capacity {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            items.push_front(item);
        }
    }

    /// The oldest item, waiting for one.
    pub(crate) async fn pop(&self) -> T {
        loop {
            let ready = self.ready.notified();
            if let Some(item) = self.items().pop_front() {
                return item;
            }
            ready.await;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items().len()
    }

    /// Items dropped since the queue was made.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_drops_the_oldest_and_counts() {
        let q = Queue::new(3);
        for n in 0..5 {
            q.push(n);
        }
        assert_eq!((q.len(), q.dropped()), (3, 2));
        assert_eq!(q.pop().await, 2);
        q.put_back(2);
        q.push(5);
        assert_eq!(q.dropped(), 3, "5 pushed 2 out again");
        q.put_back(9);
        assert_eq!(q.dropped(), 4, "no room to put back: the item is dropped");
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(q.pop().await);
        }
        assert_eq!(got, [3, 4, 5]);
    }

    #[tokio::test]
    async fn pop_waits_for_a_push() {
        let q = std::sync::Arc::new(Queue::new(2));
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.pop().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        q.push(7);
        assert_eq!(waiter.await.unwrap(), 7);
    }
}
