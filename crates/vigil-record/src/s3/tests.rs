//! The bucket store against an in-memory object store: what every node reads while a
//! recording is live, once finished, after a crash, and after a delete.

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use object_store::memory::InMemory;
use tokio::io::AsyncReadExt;

use super::*;

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
    live.append(b"first ").await.unwrap();
    live.flush().await.unwrap();
    live.append(b"second ").await.unwrap();
    live.flush().await.unwrap();
    live.append(b"not flushed").await.unwrap();
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
        live.append(b"x").await.unwrap();
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
        live.append(b"uploaded ").await.unwrap();
        tokio::time::sleep(Duration::from_millis(350)).await;
        live.flush().await.unwrap();
        live.append(b"only local").await.unwrap();
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
    live.append(b"x").await.unwrap();
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
