//! The bucket store against an in-memory object store: what every node reads while a
//! recording is live, once finished, after a crash, and after a delete.

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use object_store::memory::InMemory;
use tokio::io::AsyncReadExt;

use super::*;

mod flaky;
use flaky::Flaky;
use std::sync::atomic::Ordering;

fn node(bucket: &Arc<InMemory>, spool: &std::path::Path) -> S3RecordingStore {
    S3RecordingStore::new(
        Arc::clone(bucket) as Arc<dyn ObjectStore>,
        "recordings/",
        spool,
        Duration::ZERO,
    )
}

async fn read(store: &S3RecordingStore, key: &str) -> Vec<u8> {
    let mut out = Vec::new();
    store
        .open(key)
        .await
        .unwrap()
        .read_to_end(&mut out)
        .await
        .unwrap();
    out
}

async fn names(bucket: &InMemory) -> Vec<String> {
    let mut all: Vec<String> = bucket
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    all.sort();
    all
}

const KEY: &str = "2026/12/02/0b1c";

#[tokio::test]
async fn a_live_recording_is_read_by_another_node_then_finished_whole() {
    let bucket = Arc::new(InMemory::new());
    let (spool_a, spool_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(&bucket, spool_a.path());
    let b = node(&bucket, spool_b.path());
    let mut live = a.create_live(KEY).await.unwrap();
    live.append(Bytes::from_static(b"first ")).await.unwrap();
    live.flush().await.unwrap();
    live.append(Bytes::from_static(b"second ")).await.unwrap();
    live.flush().await.unwrap();
    live.append(Bytes::from_static(b"not flushed"))
        .await
        .unwrap();
    assert_eq!(
        read(&b, KEY).await,
        b"first second ",
        "node b reads up to the last upload"
    );
    assert_eq!(
        names(&bucket).await,
        [
            "recordings/2026/12/02/0b1c.live/0000000000",
            "recordings/2026/12/02/0b1c.live/0000000001"
        ]
    );
    // Another node cannot start a recording with the same key.
    assert!(b.create_live(KEY).await.is_err());
    live.finish().await.unwrap();
    assert_eq!(
        names(&bucket).await,
        ["recordings/2026/12/02/0b1c.cast.zst"]
    );
    assert_eq!(read(&b, KEY).await, b"first second not flushed");
    assert!(
        a.spool.files(KEY).await.is_empty(),
        "the spool copy goes once uploaded"
    );
    assert!(a.create_live(KEY).await.is_err(), "never overwritten");
    b.delete(KEY).await.unwrap();
    assert!(names(&bucket).await.is_empty());
    assert!(matches!(b.open(KEY).await, Err(RecordError::NotFound(_))));
}

#[tokio::test]
async fn segments_wait_for_the_upload_interval() {
    let bucket = Arc::new(InMemory::new());
    let spool = tempfile::tempdir().unwrap();
    let store = S3RecordingStore::new(
        Arc::clone(&bucket) as Arc<dyn ObjectStore>,
        "",
        spool.path(),
        Duration::from_secs(3600),
    );
    let mut live = store.create_live(KEY).await.unwrap();
    for _ in 0..10 {
        live.append(Bytes::from_static(b"x")).await.unwrap();
        live.flush().await.unwrap();
    }
    assert!(
        names(&bucket).await.is_empty(),
        "nothing before the interval"
    );
    live.finish().await.unwrap();
    assert_eq!(read(&store, KEY).await, b"xxxxxxxxxx");
}

#[tokio::test]
async fn a_crash_leaves_segments_readable_and_the_restart_uploads_the_spool() {
    let bucket = Arc::new(InMemory::new());
    let spool = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    {
        let a = S3RecordingStore::new(
            Arc::clone(&bucket) as Arc<dyn ObjectStore>,
            "recordings",
            spool.path(),
            Duration::from_millis(300),
        );
        let mut live = a.create_live(KEY).await.unwrap();
        live.append(Bytes::from_static(b"uploaded ")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(350)).await;
        live.flush().await.unwrap();
        live.append(Bytes::from_static(b"only local"))
            .await
            .unwrap();
        // Flushed to the spool; the bucket waits for the interval. Then the node dies.
        live.flush().await.unwrap();
        std::mem::forget(live);
    }
    let b = node(&bucket, other.path());
    assert_eq!(read(&b, KEY).await, b"uploaded ");
    let restarted = node(&bucket, spool.path());
    assert_eq!(restarted.spooled().await, [KEY.to_owned()]);
    restarted.upload_spooled(KEY).await.unwrap();
    assert_eq!(read(&b, KEY).await, b"uploaded only local");
    assert_eq!(
        names(&bucket).await,
        ["recordings/2026/12/02/0b1c.cast.zst"]
    );
    assert!(restarted.spooled().await.is_empty(), "once");
    // A spooled copy of a purged recording is dropped.
    let mut live = restarted.create_live("purged").await.unwrap();
    live.append(Bytes::from_static(b"x")).await.unwrap();
    live.flush().await.unwrap();
    std::mem::forget(live);
    restarted.discard_spooled("purged").await.unwrap();
    assert!(restarted.spooled().await.is_empty());
}

#[tokio::test]
async fn the_probe_writes_reads_and_removes() {
    let bucket = Arc::new(InMemory::new());
    let spool = tempfile::tempdir().unwrap();
    node(&bucket, spool.path()).probe("node-a").await.unwrap();
    assert!(names(&bucket).await.is_empty());
}

#[tokio::test]
async fn bulk_output_stays_as_its_segments_and_is_not_uploaded_twice() {
    let bucket = Arc::new(InMemory::new());
    let (spool_a, spool_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = node(&bucket, spool_a.path());
    a.limits.keep_segments_from = 8;
    let b = node(&bucket, spool_b.path());
    let mut live = a.create_live(KEY).await.unwrap();
    live.append(Bytes::from_static(b"0123456789"))
        .await
        .unwrap();
    live.flush().await.unwrap();
    live.append(Bytes::from_static(b" tail")).await.unwrap();
    live.finish().await.unwrap();
    assert_eq!(
        names(&bucket).await,
        [
            "recordings/2026/12/02/0b1c.live/0000000000",
            "recordings/2026/12/02/0b1c.live/0000000001"
        ],
        "the unflushed tail is the last segment; no whole object is made"
    );
    assert_eq!(read(&b, KEY).await, b"0123456789 tail");
    assert!(a.spool.files(KEY).await.is_empty(), "the spool copy goes");
    assert!(a.create_live(KEY).await.is_err(), "never overwritten");
    b.delete(KEY).await.unwrap();
    assert!(names(&bucket).await.is_empty());
}

#[tokio::test]
async fn a_small_recording_below_the_threshold_becomes_one_object() {
    let bucket = Arc::new(InMemory::new());
    let spool = tempfile::tempdir().unwrap();
    let mut store = node(&bucket, spool.path());
    store.limits.keep_segments_from = 11;
    let mut live = store.create_live(KEY).await.unwrap();
    live.append(Bytes::from_static(b"0123456789"))
        .await
        .unwrap();
    live.flush().await.unwrap();
    live.finish().await.unwrap();
    assert_eq!(
        names(&bucket).await,
        ["recordings/2026/12/02/0b1c.cast.zst"]
    );
}

fn store_on(
    bucket: Arc<dyn ObjectStore>,
    spool: &std::path::Path,
    every: Duration,
) -> S3RecordingStore {
    S3RecordingStore::new(bucket, "", spool, every)
}

/// A store on a bucket that refuses on command, uploading every `every`.
fn flaky_store(every: Duration) -> (Arc<Flaky>, tempfile::TempDir, S3RecordingStore) {
    let flaky = Arc::new(Flaky::default());
    let spool = tempfile::tempdir().unwrap();
    let store = store_on(flaky.clone(), spool.path(), every);
    (flaky, spool, store)
}

async fn names_soon(bucket: &InMemory, want: usize) -> Vec<String> {
    for _ in 0..100 {
        let got = names(bucket).await;
        if got.len() >= want {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    names(bucket).await
}

#[tokio::test]
async fn bulk_output_is_cut_into_segments_as_it_comes_whatever_the_interval() {
    let bucket = Arc::new(InMemory::new());
    let (spool, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut store = store_on(bucket.clone(), spool.path(), Duration::from_secs(3600));
    store.limits.segment_bytes = 8;
    let mut live = store.create_live(KEY).await.unwrap();
    for chunk in ["0123456789", "abc", "defghi", "tail"] {
        live.append(Bytes::from(chunk)).await.unwrap();
    }
    assert_eq!(
        names_soon(&bucket, 2).await,
        [
            "2026/12/02/0b1c.live/0000000000",
            "2026/12/02/0b1c.live/0000000001"
        ],
        "a segment each time 8 bytes were pending, in order, long before the interval"
    );
    let reader = store_on(bucket.clone(), other.path(), Duration::ZERO);
    assert_eq!(read(&reader, KEY).await, b"0123456789abcdefghi");
    live.finish().await.unwrap();
    assert_eq!(read(&reader, KEY).await, b"0123456789abcdefghitail");
}

#[tokio::test]
async fn a_refused_segment_is_sent_again_under_its_own_number() {
    let (flaky, _spool, store) = flaky_store(Duration::ZERO);
    let other = tempfile::tempdir().unwrap();
    let reader = store_on(flaky.clone(), other.path(), Duration::ZERO);
    let mut live = store.create_live(KEY).await.unwrap();
    live.append(Bytes::from("one ")).await.unwrap();
    live.flush().await.unwrap();
    flaky.refuse(true);
    live.append(Bytes::from("two ")).await.unwrap();
    live.flush().await.unwrap();
    assert_eq!(flaky.refused.load(Ordering::SeqCst), 1, "tried once");
    live.append(Bytes::from("three ")).await.unwrap();
    live.flush().await.unwrap();
    assert_eq!(
        flaky.refused.load(Ordering::SeqCst),
        1,
        "not tried again before a second has passed"
    );
    flaky.refuse(false);
    tokio::time::sleep(live::RETRY_EVERY).await;
    live.flush().await.unwrap();
    assert_eq!(
        names(&flaky.inner).await,
        [
            "2026/12/02/0b1c.live/0000000000",
            "2026/12/02/0b1c.live/0000000001"
        ],
        "the refused bytes come back as segment 1, with what followed them"
    );
    assert_eq!(read(&reader, KEY).await, b"one two three ");
    live.finish().await.unwrap();
    assert_eq!(read(&reader, KEY).await, b"one two three ");
}

#[tokio::test]
async fn a_bucket_away_too_long_fails_the_recording_and_the_spool_keeps_it() {
    let (flaky, _spool, mut store) = flaky_store(Duration::ZERO);
    store.limits.max_outage = Duration::from_millis(100);
    let mut live = store.create_live(KEY).await.unwrap();
    live.append(Bytes::from("kept ")).await.unwrap();
    live.flush().await.unwrap();
    flaky.refuse(true);
    live.append(Bytes::from("while away")).await.unwrap();
    live.flush().await.unwrap();
    tokio::time::sleep(live::RETRY_EVERY).await;
    let failed = live.flush().await;
    assert!(
        matches!(failed, Err(RecordError::Storage { .. })),
        "{failed:?}"
    );
    drop(live);
    flaky.refuse(false);
    assert_eq!(store.spooled().await, [KEY.to_owned()]);
    store.upload_spooled(KEY).await.unwrap();
    assert_eq!(read(&store, KEY).await, b"kept while away");
}

#[tokio::test]
async fn past_max_pending_the_recording_waits_for_the_bucket_instead_of_holding_more() {
    let (flaky, _spool, mut store) = flaky_store(Duration::from_secs(3600));
    store.limits.segment_bytes = 4;
    store.limits.max_pending = 8;
    let mut live = store.create_live(KEY).await.unwrap();
    flaky.refuse(true);
    live.append(Bytes::from("0123")).await.unwrap();
    let back = Arc::clone(&flaky);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        back.refuse(false);
    });
    let waited = std::time::Instant::now();
    live.append(Bytes::from("4567")).await.unwrap();
    assert!(
        waited.elapsed() >= Duration::from_millis(500),
        "8 bytes held with the bucket away: the append waits for the retry"
    );
    live.finish().await.unwrap();
    assert_eq!(read(&store, KEY).await, b"01234567");
    assert_eq!(names(&flaky.inner).await, ["2026/12/02/0b1c.cast.zst"]);
}
