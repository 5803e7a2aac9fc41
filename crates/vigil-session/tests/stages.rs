#![allow(unreachable_pub, clippy::unwrap_used, clippy::expect_used)]
//! A channel's stages through the hub: what each action does to the traffic, the recording
//! and the lock gate, carried out by `ChannelIo::carry` into an in-memory outlet.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use vigil_core::{EndReason, SessionId};
use vigil_record::{EventData, LocalRecordingStore, read_cast};
use vigil_session::{
    Action, ChannelKind, Closed, Decider, Hold, Hub, Outlet, Stage, StageFactory, TrackStart,
};
use vigil_store::{NewSession, Store};
use vigil_vault::MasterKey;

/// A stand-in for the stages of the next issues: answers a password prompt with a vaulted
/// secret (sudo), holds "deploy" for approval (command audit), greets, ends on "halt".
struct Demo {
    deciders: Arc<Mutex<Vec<Decider>>>,
}

impl Stage for Demo {
    fn on_input(&mut self, data: Bytes) -> Vec<Action> {
        let text = String::from_utf8_lossy(&data);
        if text.contains("deploy") {
            let (hold, decider) = Hold::new("the deploy command");
            self.deciders.lock().unwrap().push(decider);
            vec![Action::Hold(hold)]
        } else if text.contains("halt") {
            vec![Action::End {
                reason: EndReason::Policy("halt is not allowed".into()),
                notice: "halt is not allowed".into(),
            }]
        } else if text.contains("hi") {
            vec![
                Action::Tell("hello from the gateway".into()),
                Action::Forward(data),
            ]
        } else {
            vec![Action::Forward(data)]
        }
    }

    fn on_output(&mut self, data: Bytes) -> Vec<Action> {
        if data.ends_with(b"Password: ") {
            vec![
                Action::Forward(data),
                Action::Inject(Bytes::from_static(b"vaulted-s3cret\n")),
            ]
        } else {
            vec![Action::Forward(data)]
        }
    }
}

struct DemoFactory {
    deciders: Arc<Mutex<Vec<Decider>>>,
}

impl StageFactory for DemoFactory {
    fn for_channel(&self, kind: ChannelKind) -> Option<Box<dyn Stage>> {
        (kind == ChannelKind::Terminal).then(|| {
            Box::new(Demo {
                deciders: Arc::clone(&self.deciders),
            }) as Box<dyn Stage>
        })
    }
}

#[derive(Default)]
struct Memory {
    to_target: Mutex<Vec<u8>>,
    to_operator: Mutex<Vec<u8>>,
    told: Mutex<Vec<String>>,
    ended: Mutex<Vec<String>>,
}

impl Outlet for Memory {
    async fn to_target(&self, data: Bytes) -> Result<(), Closed> {
        self.to_target.lock().unwrap().extend_from_slice(&data);
        Ok(())
    }
    async fn to_operator(&self, data: Bytes) -> Result<(), Closed> {
        self.to_operator.lock().unwrap().extend_from_slice(&data);
        Ok(())
    }
    async fn tell(&self, text: String) {
        self.told.lock().unwrap().push(text);
    }
    fn end(&self, reason: EndReason, _notice: String) {
        self.ended.lock().unwrap().push(reason.to_string());
    }
}

fn target_got(m: &Memory) -> String {
    String::from_utf8_lossy(&m.to_target.lock().unwrap()).into_owned()
}

#[tokio::test]
async fn stages_forward_inject_hold_tell_and_end_through_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("db").display());
    let store = Store::open(&url, Arc::new(MasterKey::generate()))
        .await
        .unwrap();
    store
        .create_user("alice", vigil_core::Role::Operator, None)
        .await
        .unwrap();
    let deciders = Arc::new(Mutex::new(Vec::new()));
    let factory = Arc::new(DemoFactory {
        deciders: Arc::clone(&deciders),
    });
    let hub = Hub::with_stages(
        "node-1".into(),
        store,
        Arc::new(LocalRecordingStore::new(dir.path().join("rec"))),
        vec![factory],
    );
    let (live, _inbox) = hub
        .open(NewSession {
            id: SessionId::new(),
            user_name: "alice".into(),
            target_name: Some("web01".into()),
            login: Some("root".into()),
            client_addr: "127.0.0.1:1".into(),
            node: "node-1".into(),
            protocol: "ssh".into(),
        })
        .await
        .unwrap();
    let id = live.id().clone();
    // The policy is the snapshot taken when the session starts.
    let policy = hub
        .policy(false, vigil_audit::rules::Where::default())
        .await
        .unwrap();
    let io = live.start_recording(policy).await.unwrap();
    let start = TrackStart {
        pty: Some((80, 24, "xterm".into())),
        command: None,
        elevated: false,
    };
    let shell = io
        .channel(0, ChannelKind::Terminal, &start, |_| Vec::new())
        .await
        .unwrap();
    let out = Memory::default();

    // A prompt from the target is shown, and answered with bytes the operator never typed.
    let p = shell
        .from_target(Bytes::from_static(b"[sudo] Password: "))
        .await
        .unwrap();
    shell.carry(p, &out).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.to_operator.lock().unwrap()),
        "[sudo] Password: "
    );
    assert_eq!(target_got(&out), "vaulted-s3cret\n");

    // A notice goes to the operator, the bytes on to the target.
    let p = shell
        .from_operator(Bytes::from_static(b"hi\r"))
        .await
        .unwrap();
    shell.carry(p, &out).await.unwrap();
    assert_eq!(
        out.told.lock().unwrap().as_slice(),
        ["hello from the gateway"]
    );
    assert_eq!(target_got(&out), "vaulted-s3cret\nhi\r");
    // The target echoes what it got (unechoed input would be recorded as a redaction).
    let echo = |b: &'static [u8]| {
        let shell = shell.clone();
        async move { drop(shell.from_target(Bytes::from_static(b)).await.unwrap()) }
    };
    echo(b"hi\r\n").await;

    // Held until decided: nothing reaches the target meanwhile.
    let out = Arc::new(out);
    let p = shell
        .from_operator(Bytes::from_static(b"deploy\r"))
        .await
        .unwrap();
    assert!(p.is_held());
    let carrying = {
        let (shell, out) = (shell.clone(), Arc::clone(&out));
        tokio::spawn(async move { shell.carry(p, out.as_ref()).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        target_got(&out),
        "vaulted-s3cret\nhi\r",
        "held, not forwarded"
    );
    deciders
        .lock()
        .unwrap()
        .pop()
        .unwrap()
        // The terminal's audited-command stage comes first and hands the line and its
        // Enter on separately: the Enter waits behind the hold.
        .decide(vec![Action::Forward(Bytes::from_static(b"deploy"))]);
    carrying.await.unwrap().unwrap();
    assert_eq!(target_got(&out), "vaulted-s3cret\nhi\rdeploy\r");
    echo(b"deploy\r\n").await;

    // A hold does not keep the lock waiting, and what is decided while locked is dropped.
    let p = shell
        .from_operator(Bytes::from_static(b"deploy --again\r"))
        .await
        .unwrap();
    let carrying = {
        let (shell, out) = (shell.clone(), Arc::clone(&out));
        tokio::spawn(async move { shell.carry(p, out.as_ref()).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let locking = std::time::Instant::now();
    hub.lock(&id, "carol", Vec::new()).await.unwrap();
    assert!(
        locking.elapsed() < Duration::from_secs(2),
        "the lock waited for a hold"
    );
    deciders
        .lock()
        .unwrap()
        .pop()
        .unwrap()
        .decide(vec![Action::Forward(Bytes::from_static(
            b"deploy --again\r",
        ))]);
    carrying.await.unwrap().unwrap();
    assert_eq!(
        target_got(&out),
        "vaulted-s3cret\nhi\rdeploy\r",
        "dropped while locked"
    );
    hub.unlock(&id, "carol", Vec::new()).await.unwrap();

    // A stage can end the session.
    let p = shell
        .from_operator(Bytes::from_static(b"halt\r"))
        .await
        .unwrap();
    shell.carry(p, out.as_ref()).await.unwrap();
    assert_eq!(
        out.ended.lock().unwrap().as_slice(),
        ["policy(halt is not allowed)"]
    );

    drop((io, shell));
    live.close(EndReason::Policy("halt is not allowed".into()))
        .await;
    let row = hub.store().session(&id.0).await.unwrap();
    assert_eq!(
        row.end_reason.as_deref(),
        Some("policy(halt is not allowed)")
    );
    let key = row.recording_key.unwrap();
    let text = vigil_record::read_whole(hub.recordings().as_ref(), &key)
        .await
        .unwrap();
    let cast = read_cast(&text[..]).unwrap();
    let input = String::from_utf8(cast.input_bytes()).unwrap();
    assert!(
        !input.contains("s3cret"),
        "injected bytes are not operator input: {input:?}"
    );
    // The last Enter is the one after "halt": the demo stage ends the session but lets the
    // key pass (the terminal's audited-command stage handed it on separately).
    assert_eq!(
        input, "hi\rdeploy\r\r",
        "what reached the target, as the operator typed it"
    );
    assert!(cast.events.iter().any(|e| matches!(&e.data, EventData::Marker(m) if m == "vigil told the operator: hello from the gateway")));
}
