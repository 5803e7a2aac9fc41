use super::*;

/// A stage written as a function of the bytes it sees (the same both ways).
struct Script(fn(&[u8]) -> Vec<Action>);

impl Stage for Script {
    fn on_input(&mut self, data: Bytes) -> Vec<Action> {
        (self.0)(&data)
    }
    fn on_output(&mut self, data: Bytes) -> Vec<Action> {
        (self.0)(&data)
    }
}

fn fwd(b: &'static [u8]) -> Action {
    Action::Forward(Bytes::from_static(b))
}

/// Upper-cases what it forwards.
fn upper(b: &[u8]) -> Vec<Action> {
    vec![Action::Forward(Bytes::from(b.to_ascii_uppercase()))]
}

/// Splits on ';' into separate chunks.
fn split(b: &[u8]) -> Vec<Action> {
    b.split(|c| *c == b';')
        .map(|p| Action::Forward(Bytes::copy_from_slice(p)))
        .collect()
}

/// Drops anything holding "rm", tells the operator instead.
fn refuse_rm(b: &[u8]) -> Vec<Action> {
    if b.windows(2).any(|w| w == b"rm") {
        vec![Action::Tell("refused".into())]
    } else {
        vec![Action::Forward(Bytes::copy_from_slice(b))]
    }
}

/// Answers "password:" by injecting one, and forwards the prompt.
fn answer(b: &[u8]) -> Vec<Action> {
    if b.ends_with(b"password:") {
        vec![
            Action::Forward(Bytes::copy_from_slice(b)),
            Action::Inject(Bytes::from_static(b"hunter2\n")),
        ]
    } else {
        vec![Action::Forward(Bytes::copy_from_slice(b))]
    }
}

fn ended(b: &[u8]) -> Vec<Action> {
    if b == b"halt" {
        vec![Action::End {
            reason: EndReason::Policy("halt typed".into()),
            notice: "halted".into(),
        }]
    } else {
        vec![Action::Forward(Bytes::copy_from_slice(b))]
    }
}

fn shown(actions: &[Action]) -> Vec<String> {
    actions.iter().map(|a| format!("{a:?}")).collect()
}

#[test]
fn stages_run_in_order_and_keep_order() {
    type Case = (
        &'static str,
        Vec<fn(&[u8]) -> Vec<Action>>,
        &'static [u8],
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "no stage forwards",
            vec![],
            b"ls",
            vec![r#"Forward(b"ls")"#],
        ),
        ("one stage", vec![upper], b"ls", vec![r#"Forward(b"LS")"#]),
        (
            "a split feeds each piece to the next stage, in order",
            vec![split, upper],
            b"a;b;c",
            vec![r#"Forward(b"A")"#, r#"Forward(b"B")"#, r#"Forward(b"C")"#],
        ),
        (
            "a refusal stops the bytes at that stage; the rest go on",
            vec![split, refuse_rm, upper],
            b"ls;rm -rf /;id",
            vec![
                r#"Forward(b"LS")"#,
                r#"Tell("refused")"#,
                r#"Forward(b"ID")"#,
            ],
        ),
        (
            "injected bytes pass later stages untouched",
            vec![answer, upper],
            b"password:",
            vec![r#"Forward(b"PASSWORD:")"#, "Inject(8 bytes)"],
        ),
        (
            "an end is an action like any other",
            vec![split, ended],
            b"a;halt;b",
            vec![
                r#"Forward(b"a")"#,
                "End(policy(halt typed))",
                r#"Forward(b"b")"#,
            ],
        ),
    ];
    for (name, fns, input, want) in cases {
        for direction in [Direction::FromOperator, Direction::FromTarget] {
            let mut stages: Vec<Box<dyn Stage>> = fns
                .iter()
                .map(|f| Box::new(Script(*f)) as Box<dyn Stage>)
                .collect();
            let out = run(&mut stages, direction, chunk(Bytes::from_static(input)));
            assert!(out.held.is_none(), "{name}");
            assert_eq!(shown(&out.ready), want, "{name} ({direction:?})");
        }
    }
}

/// Holds every chunk that holds "deploy" until the test decides.
struct Approval {
    deciders: std::sync::Arc<std::sync::Mutex<Vec<Decider>>>,
}

impl Stage for Approval {
    fn on_input(&mut self, data: Bytes) -> Vec<Action> {
        if data.windows(6).any(|w| w == b"deploy") {
            let (hold, decider) = Hold::new("the deploy command");
            self.deciders.lock().unwrap().push(decider);
            vec![Action::Hold(hold)]
        } else {
            vec![Action::Forward(data)]
        }
    }
}

#[tokio::test]
async fn a_hold_resumes_after_its_stage_then_what_waited_behind_it() {
    let deciders = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut stages: Vec<Box<dyn Stage>> = vec![
        Box::new(Script(split)),
        Box::new(Approval {
            deciders: deciders.clone(),
        }),
        Box::new(Script(upper)),
    ];
    let out = run(
        &mut stages,
        Direction::FromOperator,
        chunk(Bytes::from_static(b"ls;deploy;id")),
    );
    assert_eq!(shown(&out.ready), [r#"Forward(b"LS")"#]);
    let held = out.held.expect("held");
    // Approved as typed: the decision continues at the stage after the approval (upper),
    // then "id", which waited behind it, from where it was (the approval stage).
    let decider = deciders.lock().unwrap().pop().unwrap();
    decider.decide(vec![fwd(b"deploy")]);
    let out = run(&mut stages, Direction::FromOperator, held.decided().await);
    assert!(out.held.is_none());
    assert_eq!(
        shown(&out.ready),
        [r#"Forward(b"DEPLOY")"#, r#"Forward(b"ID")"#]
    );
}

#[tokio::test]
async fn an_undecided_hold_forwards_nothing_and_tells_the_operator() {
    let deciders = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut stages: Vec<Box<dyn Stage>> = vec![Box::new(Approval {
        deciders: deciders.clone(),
    })];
    let out = run(
        &mut stages,
        Direction::FromOperator,
        chunk(Bytes::from_static(b"deploy")),
    );
    drop(deciders.lock().unwrap().pop());
    let out = run(
        &mut stages,
        Direction::FromOperator,
        out.held.unwrap().decided().await,
    );
    assert_eq!(
        shown(&out.ready),
        [r#"Tell("vigil: the deploy command was not let through (no decision was made)")"#]
    );
}

proptest::proptest! {
    /// Whatever stages that only forward do to the chunking, the bytes come out the same and
    /// in order.
    #[test]
    fn forwarding_stages_keep_every_byte_in_order(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), depth in 0usize..4) {
        let mut stages: Vec<Box<dyn Stage>> = (0..depth).map(|_| Box::new(Script(split)) as Box<dyn Stage>).collect();
        let out = run(&mut stages, Direction::FromTarget, chunk(Bytes::from(data.clone())));
        let mut joined = Vec::new();
        for a in out.ready {
            match a {
                Action::Forward(b) => joined.extend_from_slice(&b),
                other => panic!("unexpected {other:?}"),
            }
        }
        let want: Vec<u8> = if depth == 0 { data } else { data.into_iter().filter(|c| *c != b';').collect() };
        proptest::prop_assert_eq!(joined, want);
    }
}
