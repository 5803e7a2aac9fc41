#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
//! The operator-input track has its own permission (issue 9): recordings served to anyone
//! without `PAM.SessionManagement.RecordingInput` carry output only.

mod common;

use axum::http::{Method, StatusCode};
use bytes::Bytes;
use common::{Fixture, Who};
use vigil_core::{EndReason, Role, SessionId};
use vigil_session::ChannelKind;
use vigil_store::NewSession;

/// A session of `operator` on web01, recording.
async fn started_session(
    f: &Fixture,
) -> (
    std::sync::Arc<vigil_session::LiveSession>,
    vigil_session::SessionIo,
) {
    let (live, _inbox) = f
        .hub
        .open(NewSession {
            id: SessionId::new(),
            user_name: "operator".into(),
            target_name: Some("web01".into()),
            login: Some("root".into()),
            client_addr: "127.0.0.1:5000".into(),
            node: "node-1".into(),
            protocol: "ssh".into(),
        })
        .await
        .unwrap();
    let io = live
        .start_recording(vigil_session::Policy::default())
        .await
        .unwrap();
    (live, io)
}

/// A recorded session whose input track holds `typed-secret` and whose output says `visible`.
async fn recorded_session(f: &Fixture) -> String {
    let (live, io) = started_session(f).await;
    let start = vigil_session::TrackStart {
        pty: Some((80, 24, "xterm".into())),
        command: Some("cat".into()),
        elevated: false,
    };
    let exec = open(&io, 0, ChannelKind::Exec, &start).await;
    drop(
        exec.from_operator(Bytes::from_static(b"typed-secret\n"))
            .await
            .unwrap(),
    );
    drop(
        exec.from_target(Bytes::from_static(b"visible output\n"))
            .await
            .unwrap(),
    );
    let id = live.id().0.clone();
    drop((io, exec));
    live.close(EndReason::OperatorExit).await;
    f.store
        .set_session_auditors(&id, &["assigned".to_owned()], "admin")
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn the_input_track_is_served_only_with_its_own_permission() {
    let f = Fixture::new().await;
    let id = recorded_session(&f).await;
    let path = format!("/api/v1/sessions/{id}/recording?purpose=download");
    let table = [
        ("admin", Role::PamAdministrator, true),
        ("auditor", Role::PamAuditor, true),
        ("sysadmin", Role::SystemAdministrator, false),
        ("assigned", Role::Operator, false),
    ];
    for (name, role, with_input) in table {
        let who = Who::User {
            name: name.into(),
            role,
        };
        let (status, body) = f.call(&who, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        let cast = vigil_record::read_cast(body.as_bytes()).unwrap();
        assert_eq!(cast.output_bytes(), b"visible output\n", "{name}");
        let input = cast.input_bytes();
        if with_input {
            assert_eq!(input, b"typed-secret\n", "{name}");
        } else {
            assert!(input.is_empty(), "{name} got the input track");
            assert!(!body.contains("\"i\""), "{name}: {body}");
        }
    }
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

/// The player's seek: the screen of the moment first, then what follows; the seeks of one
/// play are one audit entry, a download always is one; markers are listed with their times.
#[tokio::test]
async fn a_seek_streams_from_the_screen_of_its_moment_and_is_part_of_the_play() {
    let f = Fixture::new().await;
    let id = recorded_session(&f).await;
    let admin = Who::User {
        name: "admin".into(),
        role: Role::PamAdministrator,
    };
    let played = |entries: &[vigil_store::AuditEntry]| {
        entries
            .iter()
            .filter(|e| e.action == "recording_played" && e.subject == id)
            .count()
    };
    for from in [0, 5, 60_000] {
        let path = format!("/api/v1/sessions/{id}/recording?purpose=play&from={from}");
        let (status, body) = f.call(&admin, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut lines = body.lines();
        let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert!(header["vigil_from_ms"].is_u64(), "{header}");
        assert!(
            lines.next().unwrap().contains("\"r\""),
            "a resize first: {body}"
        );
        assert!(
            lines.next().unwrap().contains("\"o\""),
            "then the screen: {body}"
        );
        if from == 60_000 {
            // Past the end: the screen holds the output, nothing follows.
            assert!(body.contains("visible output"), "{body}");
            assert_eq!(lines.next(), None, "{body}");
        }
    }
    let entries = f.store.audit_entries(100).await.unwrap();
    assert_eq!(played(&entries), 1, "three seeks of one play are one entry");
    let (status, markers) = f
        .call(
            &admin,
            Method::GET,
            &format!("/api/v1/sessions/{id}/recording/markers"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{markers}");
    assert!(markers.starts_with('['), "{markers}");
}

/// Files the transfer policy keeps (`keep_files_up_to`) are named by their `file_allowed`
/// event, downloaded whole (audited) by those who may download recordings, and purged with
/// the recording.
#[tokio::test]
async fn kept_files_are_downloaded_by_their_event_and_purged_with_the_recording() {
    let f = Fixture::new().await;
    let (live, io) = started_session(&f).await;
    let policy = vigil_core::TransferPolicy {
        keep_files_up_to: Some(100),
        ..Default::default()
    };
    let inspector = live.inspector(&policy, "scp", 0).unwrap();
    for (path, body) in [
        ("/srv/small.txt", &b"kept bytes\0\xff"[..]),
        ("/srv/large.txt", &[b'x'; 500][..]),
    ] {
        let mut incoming = inspector
            .incoming(path, vigil_core::Direction::Upload)
            .await;
        incoming.write_at(0, body).await;
        assert!(matches!(
            inspector.decide(incoming).await,
            vigil_transfer::Outcome::Deliver(_)
        ));
    }
    let id = live.id().0.clone();
    drop((io, inspector));
    live.close(EndReason::OperatorExit).await;

    let events = f.store.session_events(&id).await.unwrap();
    let allowed: Vec<_> = events.iter().filter(|e| e.kind == "file_allowed").collect();
    assert_eq!(allowed.len(), 2);
    let (small, large) = (allowed[0].id, allowed[1].id);
    assert!(
        allowed[0].detail.contains("\"kept\":\""),
        "{}",
        allowed[0].detail
    );
    assert!(
        allowed[1].detail.contains("\"kept\":null"),
        "{}",
        allowed[1].detail
    );

    let admin = Who::User {
        name: "admin".into(),
        role: Role::PamAdministrator,
    };
    let path = format!("/api/v1/sessions/{id}/files/{small}");
    let (status, body) = f.call(&admin, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // (The fixture reads bodies as text: the byte that is not UTF-8 shows as U+FFFD.)
    assert_eq!(
        body,
        String::from_utf8_lossy(b"kept bytes\0\xff"),
        "bytes as transferred"
    );
    let (status, _) = f
        .call(
            &admin,
            Method::GET,
            &format!("/api/v1/sessions/{id}/files/{large}"),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a file over the limit is not kept"
    );
    // An operator who is neither this session's user nor one of its auditors.
    let other = Who::User {
        name: "assigned".into(),
        role: Role::Operator,
    };
    let (status, body) = f.call(&other, Method::GET, &path, None).await;
    assert!(
        status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
        "{status} {body}"
    );
    let audit = f.store.audit_entries(100).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "kept_file_downloaded" && e.subject == id),
        "the download is audited"
    );

    let kept = vigil_session::Admin::new(f.store.clone())
        .kept_files(&id)
        .await
        .unwrap();
    let key = kept[0].1.key.clone();
    assert!(f.hub.recordings().open(&key).await.is_ok());
    let report = vigil_session::Admin::new(f.store.clone())
        .purge(&vigil_session::Actor::system(), f.hub.recordings(), 0)
        .await
        .unwrap();
    assert!(report.purged.contains(&id), "{report:?}");
    assert!(
        f.hub.recordings().open(&key).await.is_err(),
        "purged with the recording"
    );
    let (status, _) = f.call(&admin, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
