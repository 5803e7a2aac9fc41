#![allow(unreachable_pub, clippy::unwrap_used, clippy::expect_used)]
//! The hub against a real SQLite store and a local recording directory.

use std::sync::Arc;

use bytes::Bytes;
use vigil_core::{EndReason, SessionId};
use vigil_record::{LocalRecordingStore, read_cast};
use vigil_session::{ChannelKind, Control, Hub};
use vigil_store::{NewSession, Store};
use vigil_vault::MasterKey;

async fn hub(dir: &std::path::Path) -> Arc<Hub> {
    let url = format!("sqlite://{}?mode=rwc", dir.join("db").display());
    let store = Store::open(&url, Arc::new(MasterKey::generate()))
        .await
        .unwrap();
    Hub::new(
        "node-1".into(),
        store,
        Arc::new(LocalRecordingStore::new(dir.join("rec"))),
    )
}

fn new_session() -> NewSession {
    NewSession {
        id: SessionId::new(),
        user_name: "alice".into(),
        target_name: Some("web01".into()),
        login: Some("root".into()),
        client_addr: "127.0.0.1:1".into(),
        node: "node-1".into(),
        protocol: "ssh".into(),
    }
}

#[tokio::test]
async fn records_counts_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(dir.path()).await;
    let (live, mut inbox) = hub.open(new_session()).await.unwrap();
    let id = live.id().clone();
    let io = live
        .start_recording(vigil_session::Policy::default())
        .await
        .unwrap();
    let start = vigil_session::TrackStart {
        pty: Some((100, 30, "xterm".into())),
        command: None,
        elevated: false,
    };
    let shell = open(&io, 0, ChannelKind::Terminal, &start).await;
    let sftp = open(&io, 1, ChannelKind::Subsystem, &start).await;
    let passage = shell
        .from_operator(Bytes::from_static(b"ls\r"))
        .await
        .unwrap();
    assert_eq!(passage.forwarded().as_deref(), Some(&b"ls\r"[..]));
    drop(passage);
    drop(
        shell
            .from_target(Bytes::from_static(b"ls\r\nfile\xff\r\n"))
            .await
            .unwrap(),
    );
    drop(
        sftp.from_target(Bytes::from_static(b"sftp-bytes"))
            .await
            .unwrap(),
    );
    shell.resize(120, 40).await.unwrap();
    shell.exit(7).await.unwrap();
    assert!(hub.control(&id, Control::Terminate { by: "admin".into() }));
    assert_eq!(
        inbox.next().await,
        Control::Terminate { by: "admin".into() }
    );
    drop((io, shell, sftp));
    live.close(EndReason::TerminatedBy("admin".into())).await;
    assert!(
        !hub.control(&id, Control::Terminate { by: "x".into() }),
        "closed sessions leave the registry"
    );

    let row = hub.store().session(&id.0).await.unwrap();
    assert_eq!(row.status, "closed");
    assert_eq!(row.end_reason.as_deref(), Some("terminated_by(admin)"));
    assert_eq!((row.bytes_in, row.bytes_out), (3, 21));
    let events = hub.store().session_events(&id.0).await.unwrap();
    let ended = events.last().unwrap();
    assert_eq!(
        (ended.kind.as_str(), ended.actor.as_deref()),
        ("ended", Some("admin"))
    );

    let key = row.recording_key.unwrap();
    // At rest: the writer finished the live file and moved it.
    let rec = dir.path().join("rec");
    assert!(
        rec.join(format!("{key}.cast.zst")).exists(),
        "sealed at rest"
    );
    assert!(!rec.join(format!("{key}.cast.zst.part")).exists());
    let text = vigil_record::read_whole(hub.recordings().as_ref(), &key)
        .await
        .unwrap();
    let cast = read_cast(&text[..]).unwrap();
    assert_eq!((cast.header.term.cols, cast.header.term.rows), (100, 30));
    assert_eq!(
        cast.output_bytes(),
        b"ls\r\nfile\xff\r\n",
        "subsystem bytes are counted, not recorded"
    );
    assert_eq!(cast.input_bytes(), b"ls\r");
}

#[tokio::test]
async fn recording_that_cannot_start_refuses_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(dir.path()).await;
    // A file where the recording directory should be: nothing can be created under it.
    std::fs::write(dir.path().join("rec"), b"not a directory").unwrap();
    let (live, _inbox) = hub.open(new_session()).await.unwrap();
    let err = live
        .start_recording(vigil_session::Policy::default())
        .await
        .err()
        .expect("must fail closed");
    assert!(err.to_string().contains("recording"), "{err}");
    live.close(EndReason::Error("recording cannot be written".into()))
        .await;
}

#[tokio::test]
async fn a_late_viewer_gets_the_screen_then_live_output() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(dir.path()).await;
    let (live, _inbox) = hub.open(new_session()).await.unwrap();
    let id = live.id().clone();
    assert!(matches!(
        hub.watch(&id, 0).await,
        Err(vigil_session::ControlError::NotStarted(_))
    ));
    let io = live
        .start_recording(vigil_session::Policy::default())
        .await
        .unwrap();
    let start = vigil_session::TrackStart {
        pty: Some((40, 5, "xterm".into())),
        command: None,
        elevated: false,
    };
    let shell = open(&io, 0, ChannelKind::Terminal, &start).await;
    drop(
        shell
            .from_target(Bytes::from_static(b"$ uptime\r\n up 3 days\r\n$ "))
            .await
            .unwrap(),
    );
    let mut view = hub.watch(&id, 0).await.unwrap();
    assert_eq!((view.cols, view.rows), (40, 5));
    let mut screen = vigil_record::Screen::new(view.cols, view.rows);
    screen.feed(view.screen.as_bytes());
    assert_eq!(screen.text()[..3], ["$ uptime", " up 3 days", "$"]);
    // Two viewers at once, each with every frame after its snapshot.
    let mut second = hub.watch(&id, 0).await.unwrap();
    drop(
        shell
            .from_target(Bytes::from_static(b"whoami"))
            .await
            .unwrap(),
    );
    shell.resize(50, 6).await.unwrap();
    for v in [&mut view, &mut second] {
        match v.frames.recv().await.unwrap() {
            vigil_session::LiveFrame::Output(b) => assert_eq!(&b[..], b"whoami"),
            other => panic!("expected output, got {other:?}"),
        }
        assert!(matches!(
            v.frames.recv().await.unwrap(),
            vigil_session::LiveFrame::Resize(50, 6)
        ));
    }
    drop((io, shell));
    live.close(EndReason::OperatorExit).await;
    assert!(
        view.frames.recv().await.is_err(),
        "the stream ends with the session"
    );
    assert!(matches!(
        hub.watch(&id, 0).await,
        Err(vigil_session::ControlError::NotHere(_))
    ));
}

#[tokio::test]
async fn lock_drops_input_tells_the_adapter_and_locks_the_user_until_unlocked() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(dir.path()).await;
    hub.store()
        .create_user("alice", vigil_core::Role::Operator, None)
        .await
        .unwrap();
    let mut events = hub.subscribe().await.unwrap();
    let (live, mut inbox) = hub.open(new_session()).await.unwrap();
    let id = live.id().clone();
    let io = live
        .start_recording(vigil_session::Policy::default())
        .await
        .unwrap();
    let start = vigil_session::TrackStart {
        pty: Some((80, 24, "xterm".into())),
        command: None,
        elevated: false,
    };
    hub.lock(&id, "carol", Vec::new()).await.unwrap();
    assert_eq!(inbox.next().await, Control::Lock { by: "carol".into() });
    let shell = open(&io, 0, ChannelKind::Terminal, &start).await;
    let typed = shell
        .from_operator(Bytes::from_static(b"rm -rf /\r"))
        .await
        .unwrap();
    assert!(
        typed.forwarded().is_none(),
        "locked input is dropped, not queued"
    );
    assert_eq!(io.bytes().0, 0);
    let row = hub.store().session(&id.0).await.unwrap();
    assert_eq!(row.status, "locked");
    let alice = hub.store().user_by_name("alice").await.unwrap();
    assert_eq!(alice.locked_by.as_deref(), Some("carol"));
    hub.lock(&id, "dave", Vec::new()).await.unwrap();
    assert_eq!(
        hub.store()
            .user_by_name("alice")
            .await
            .unwrap()
            .locked_by
            .as_deref(),
        Some("carol"),
        "locking a locked session changes nothing"
    );

    hub.unlock(&id, "carol", Vec::new()).await.unwrap();
    assert_eq!(inbox.next().await, Control::Unlock { by: "carol".into() });
    let typed = shell
        .from_operator(Bytes::from_static(b"ls\r"))
        .await
        .unwrap();
    assert_eq!(typed.forwarded().as_deref(), Some(&b"ls\r"[..]));
    drop(typed);
    assert_eq!(
        hub.store().user_by_name("alice").await.unwrap().locked_by,
        None
    );
    assert_eq!(hub.store().session(&id.0).await.unwrap().status, "active");

    // The bus is fed from the outbox: rows arrive as they are committed.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let e = tokio::time::timeout(std::time::Duration::from_secs(5), events.recv())
            .await
            .expect("the bus delivers the lock's events")
            .unwrap();
        let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
        seen.push((e.kind, e.actor, detail));
    }
    assert_eq!(seen[0].0, "locked");
    assert_eq!(seen[0].1.as_deref(), Some("carol"));
    assert_eq!(seen[1].0, "unlocked");
    assert_eq!(
        seen[1].2["input_dropped_bytes"], 9,
        "the log says how much was dropped"
    );

    // Releasing the user unlocks their locked session too.
    hub.lock(&id, "carol", Vec::new()).await.unwrap();
    let admin = vigil_session::Admin::with_hub(Arc::clone(&hub));
    assert_eq!(
        admin
            .release(&vigil_session::Actor::cli("erin"), "alice")
            .await
            .unwrap()
            .as_deref(),
        Some("carol")
    );
    assert!(!io.is_locked());
    drop((io, shell));
    live.close(EndReason::OperatorExit).await;
    assert!(matches!(
        hub.lock(&id, "carol", Vec::new()).await,
        Err(vigil_session::ControlError::NotHere(_))
    ));
}

async fn recording_of(hub: &Hub, id: &SessionId) -> vigil_record::Cast {
    track_of(hub, id, 0).await
}

async fn track_of(hub: &Hub, id: &SessionId, track: u32) -> vigil_record::Cast {
    let key = hub
        .store()
        .recording_track(&id.0, track)
        .await
        .unwrap()
        .recording_key;
    let text = vigil_record::read_whole(hub.recordings().as_ref(), &key)
        .await
        .unwrap();
    read_cast(&text[..]).unwrap()
}

/// Regression (issue 9): keystrokes typed at a prompt that does not echo them (a password at
/// `read -s`, `sudo`, `passwd`) were in the input track.
#[tokio::test]
async fn input_typed_without_echo_is_a_redaction_marker_not_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(dir.path()).await;
    let (live, _inbox) = hub.open(new_session()).await.unwrap();
    let id = live.id().clone();
    let io = live
        .start_recording(vigil_session::Policy::default())
        .await
        .unwrap();
    let start = vigil_session::TrackStart {
        pty: Some((80, 24, "xterm".into())),
        command: None,
        elevated: false,
    };
    let shell = open(&io, 0, ChannelKind::Terminal, &start).await;
    let cat = vigil_session::TrackStart {
        pty: None,
        command: Some("cat".into()),
        elevated: false,
    };
    let command = open(&io, 1, ChannelKind::Exec, &cat).await;
    let say = |b: &'static [u8]| {
        let shell = shell.clone();
        async move { drop(shell.from_target(Bytes::from_static(b)).await.unwrap()) }
    };
    let typed = |b: &'static [u8]| {
        let shell = shell.clone();
        async move { drop(shell.from_operator(Bytes::from_static(b)).await.unwrap()) }
    };
    say(b"$ ").await;
    typed(b"id").await;
    say(b"id").await;
    typed(b"\r").await;
    say(b"\r\nuid=0(root)\r\n[sudo] password for alice: ").await;
    for key in [&b"c"[..], b"4", b"n", b"4", b"r", b"y"] {
        drop(
            shell
                .from_operator(Bytes::copy_from_slice(key))
                .await
                .unwrap(),
        );
    }
    typed(b"\r").await;
    say(b"\r\n$ ").await;
    // Input of a command without a terminal is data, recorded as sent.
    drop(
        command
            .from_operator(Bytes::from_static(b"stdin-data"))
            .await
            .unwrap(),
    );
    drop((io, shell, command));
    live.close(EndReason::OperatorExit).await;
    let cast = recording_of(&hub, &id).await;
    let input = String::from_utf8(cast.input_bytes()).unwrap();
    assert!(
        !input.contains("c4n4ry"),
        "the password is not in the input track: {input:?}"
    );
    assert_eq!(input, "id\r\r");
    let command_input = track_of(&hub, &id, 1).await.input_bytes();
    assert_eq!(
        command_input, b"stdin-data",
        "the command has its own track"
    );
    let markers: Vec<String> = cast
        .events
        .iter()
        .filter_map(|e| match &e.data {
            vigil_record::EventData::Marker(m) if m.starts_with("input redacted") => {
                Some(m.clone())
            }
            vigil_record::EventData::Marker(m) => {
                assert!(!m.contains("c4n4ry"), "the password is in a marker: {m}");
                None
            }
            _ => None,
        })
        .collect();
    assert_eq!(markers, ["input redacted: 6 bytes typed without echo"]);
}

/// Regression (issue 9): a chunk that passed the lock gate while it waited on the recorder
/// was forwarded after `Hub::lock` had returned. Now the lock waits for it.
#[tokio::test]
async fn lock_returns_only_after_chunks_past_the_gate_are_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(dir.path()).await;
    hub.store()
        .create_user("alice", vigil_core::Role::Operator, None)
        .await
        .unwrap();
    let (live, _inbox) = hub.open(new_session()).await.unwrap();
    let id = live.id().clone();
    let io = live
        .start_recording(vigil_session::Policy::default())
        .await
        .unwrap();
    // A command reading data (a shell without a terminal would hold a line to its newline).
    let start = vigil_session::TrackStart {
        pty: None,
        command: Some("cat".into()),
        elevated: false,
    };
    let shell = open(&io, 0, ChannelKind::Exec, &start).await;
    // A chunk is past the gate and on its way: the relay holds its passage.
    let passage = shell
        .from_operator(Bytes::from_static(b"in flight"))
        .await
        .unwrap();
    assert!(passage.forwarded().is_some());
    let forwarded = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let relay = {
        let forwarded = Arc::clone(&forwarded);
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            forwarded.store(true, std::sync::atomic::Ordering::SeqCst);
            drop(passage);
        })
    };
    hub.lock(&id, "carol", Vec::new()).await.unwrap();
    assert!(
        forwarded.load(std::sync::atomic::Ordering::SeqCst),
        "lock returned while a chunk past the gate was still being forwarded"
    );
    relay.await.unwrap();
    let after = shell
        .from_operator(Bytes::from_static(b"typed after"))
        .await
        .unwrap();
    assert!(after.forwarded().is_none());
    drop((after, io, shell));
    live.close(EndReason::OperatorExit).await;
    let log = hub.store().session_events(&id.0).await.unwrap();
    let locked = log.iter().find(|e| e.kind == "locked").unwrap();
    assert!(
        locked.detail.contains("\"drained\":true"),
        "{}",
        locked.detail
    );
}

/// A channel's pipeline, as the SSH adapter opens it (no evidence of the opening here).
async fn open(
    io: &vigil_session::SessionIo,
    channel: u32,
    kind: ChannelKind,
    start: &vigil_session::TrackStart,
) -> vigil_session::ChannelIo {
    io.channel(channel, kind, start, |_| Vec::new())
        .await
        .unwrap()
}

/// Each recorded channel has its own track: its own header, screen model, live stream and
/// file; a marker (a lock) goes into every track; closing waits for all of them.
#[tokio::test]
async fn each_recorded_channel_has_its_own_track() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(dir.path()).await;
    let (live, _inbox) = hub.open(new_session()).await.unwrap();
    let id = live.id().clone();
    let io = live
        .start_recording(vigil_session::Policy::default())
        .await
        .unwrap();
    let first = vigil_session::TrackStart {
        pty: Some((90, 20, "xterm".into())),
        command: None,
        elevated: false,
    };
    let second = vigil_session::TrackStart {
        pty: Some((60, 10, "vt100".into())),
        command: Some("top".into()),
        elevated: false,
    };
    let one = open(&io, 3, ChannelKind::Terminal, &first).await;
    let two = open(&io, 5, ChannelKind::Terminal, &second).await;
    let sftp = open(&io, 7, ChannelKind::Subsystem, &Default::default()).await;
    assert_eq!(
        (one.track(), two.track(), sftp.track()),
        (Some(0), Some(1), None)
    );
    drop(
        one.from_target(Bytes::from_static(b"first screen"))
            .await
            .unwrap(),
    );
    drop(
        two.from_target(Bytes::from_static(b"second screen"))
            .await
            .unwrap(),
    );
    // Each live view is its track's screen.
    let view = hub.watch(&id, 1).await.unwrap();
    assert_eq!((view.cols, view.rows), (60, 10));
    assert!(view.screen.contains("second screen") && !view.screen.contains("first"));
    assert!(matches!(
        hub.watch(&id, 2).await,
        Err(vigil_session::ControlError::NoTrack(_, 2))
    ));
    io.marker("input locked by carol".into()).await.unwrap();
    two.exit(3).await.unwrap();
    drop((io, one, two, sftp));
    live.close(EndReason::OperatorExit).await;

    let tracks = hub.store().recording_tracks(&id.0).await.unwrap();
    let described: Vec<_> = tracks
        .iter()
        .map(|t| (t.track, t.channel, t.kind.as_deref(), t.command.as_deref()))
        .collect();
    assert_eq!(
        described,
        [
            (0, Some(3), Some("terminal"), None),
            (1, Some(5), Some("terminal"), Some("top"))
        ]
    );
    assert_eq!(tracks[1].recording_key, format!("{}.1", id.0));
    let (a, b) = (track_of(&hub, &id, 0).await, track_of(&hub, &id, 1).await);
    assert_eq!(a.output_bytes(), b"first screen");
    assert_eq!(b.output_bytes(), b"second screen");
    assert_eq!((b.header.term.cols, b.header.term.rows), (60, 10));
    for cast in [&a, &b] {
        assert!(cast.events.iter().any(|e| matches!(&e.data, vigil_record::EventData::Marker(m) if m == "input locked by carol")));
    }
    // The retention purge deletes every track, not only the first.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let admin = vigil_session::Admin::new(hub.store().clone());
    let report = admin
        .purge(&vigil_session::Actor::system(), hub.recordings(), 0)
        .await
        .unwrap();
    assert_eq!(report.purged, vec![id.0.clone()]);
    let left: Vec<_> = std::fs::read_dir(dir.path().join("rec"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Fault injection: a channel whose track cannot be written is refused (fail closed), and
/// nothing says it opened; the session and its first track go on.
#[tokio::test]
async fn a_channel_whose_track_cannot_be_written_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(dir.path()).await;
    let (live, _inbox) = hub.open(new_session()).await.unwrap();
    let id = live.id().clone();
    let io = live
        .start_recording(vigil_session::Policy::default())
        .await
        .unwrap();
    // Where track 1's live file would go, a directory: it cannot be created.
    std::fs::create_dir_all(
        dir.path()
            .join("rec")
            .join(format!("{}.1.cast.zst.part", id.0)),
    )
    .unwrap();
    let start = vigil_session::TrackStart::default();
    let first = open(&io, 0, ChannelKind::Exec, &start).await;
    let opened = |track: Option<u32>| {
        vec![vigil_core::Evidence::session(
            vigil_core::EventKind::ChannelOpened,
            &id,
            None,
            serde_json::json!({ "kind": "exec", "channel": "1", "track": track }),
        )]
    };
    let refused = io.channel(1, ChannelKind::Exec, &start, opened).await;
    assert!(refused.is_err(), "the second channel must be refused");
    drop(
        first
            .from_target(Bytes::from_static(b"still recorded"))
            .await
            .unwrap(),
    );
    drop((io, first));
    live.close(EndReason::OperatorExit).await;
    let events = hub.store().session_events(&id.0).await.unwrap();
    assert!(
        !events.iter().any(|e| e.kind == "channel_opened"),
        "{events:?}"
    );
    assert_eq!(
        recording_of(&hub, &id).await.output_bytes(),
        b"still recorded"
    );
    assert_eq!(hub.store().recording_tracks(&id.0).await.unwrap().len(), 1);
}
