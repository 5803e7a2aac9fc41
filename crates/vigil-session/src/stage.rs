//! Stages: the pluggable part of a channel's pipeline, and the actions they return.
//!
//! A channel's pipeline is the lock gate (first, built in), then the stages the session's
//! [`Policy`] gives that kind of channel (command audit, sudo responder, transfer inspection
//! plug in here), then the recorder (last, built in: it records what leaves the pipeline). A
//! stage is an I/O-free state machine: it sees the bytes the stages before it forwarded and
//! returns [`Action`]s; the relay carries them out and knows nothing else.
//!
//! [`run`] is the runner. It takes actions one at a time, depth first, so order is kept: a
//! stage's output goes through the stages after it before the next input is looked at. A
//! [`Hold`] stops the run: what the holder decides later continues with the stage after it,
//! then whatever was waiting behind the hold, where each of those had got to.
//!
//! What this is not: stages cannot await (they are called under the channel's lock, on the
//! relay's task); a stage that needs a person or a scanner returns a `Hold` and decides from
//! elsewhere through its [`Decider`].

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use vigil_core::{EndReason, TransferTool};

use crate::audit::CommandRules;

/// What a channel carries, decided when it opens: only terminal and exec streams go into the
/// terminal recording; file transfers (scp, rsync, SFTP) and port forwards are counted and
/// logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// A PTY: its screen is modelled and its unechoed input redacted.
    Terminal,
    /// A command without a PTY.
    Exec,
    /// An exec channel running a transfer's server side.
    Transfer(TransferTool),
    /// A subsystem (SFTP).
    Subsystem,
    /// A `-L` port forward.
    Forward,
}

impl ChannelKind {
    /// The track kind a recorded channel is written as; none for what is not recorded.
    pub(crate) fn recorded_as(self) -> Option<&'static str> {
        match self {
            ChannelKind::Terminal => Some("terminal"),
            ChannelKind::Exec => Some("exec"),
            _ => None,
        }
    }
}

/// What the relay does with a piece of a channel's traffic, in order.
pub enum Action {
    /// Operator input: send it to the target (recorded as input). Target output: show it to
    /// the operator (recorded as output).
    Forward(Bytes),
    /// Send bytes to the target that the operator did not type (a vaulted `sudo` password):
    /// never recorded as operator input, never passed to later stages.
    Inject(Bytes),
    /// Tell the operator a gateway notice (recorded as a marker).
    Tell(String),
    /// Wait for a decision (an approval, a scan): the bytes held are not forwarded meanwhile.
    Hold(Hold),
    /// Record a marker in the channel's track; nothing is sent.
    Mark(String),
    /// End the session with `reason`; the operator is told `notice`.
    End { reason: EndReason, notice: String },
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Forward(b) => f.debug_tuple("Forward").field(b).finish(),
            Action::Inject(b) => write!(f, "Inject({} bytes)", b.len()),
            Action::Tell(t) => f.debug_tuple("Tell").field(t).finish(),
            Action::Hold(h) => f.debug_tuple("Hold").field(&h.what).finish(),
            Action::Mark(m) => f.debug_tuple("Mark").field(m).finish(),
            Action::End { reason, .. } => write!(f, "End({reason})"),
        }
    }
}

/// A pending decision. Made with [`Hold::new`]; the stage keeps (or hands on) the [`Decider`].
pub struct Hold {
    what: String,
    decision: oneshot::Receiver<Vec<Action>>,
    /// Set by the runner: the stage after the one that held.
    resume_at: usize,
    deadline: Option<Deadline>,
}

/// What a hold becomes when nobody decides in time.
struct Deadline {
    after: std::time::Duration,
    default: Vec<Action>,
    /// Runs when the default is taken (the holder's bookkeeping: its evidence).
    on_default: Box<dyn FnOnce() + Send + Sync>,
}

/// Decides a [`Hold`]. Dropping it undecided drops what was held (fail closed) and tells the
/// operator.
pub struct Decider(oneshot::Sender<Vec<Action>>);

impl Hold {
    /// `what` names what is held, for the operator's notice if it is never decided.
    pub fn new(what: impl Into<String>) -> (Hold, Decider) {
        let (tx, rx) = oneshot::channel();
        (
            Hold {
                what: what.into(),
                decision: rx,
                resume_at: 0,
                deadline: None,
            },
            Decider(tx),
        )
    }

    /// A hold that takes `default` when nobody decided within `after` (a question the
    /// target may not answer); `on_default` runs then. A decision that comes later is
    /// refused ([`Decider::decide`] says so).
    pub fn with_deadline(
        mut self,
        after: std::time::Duration,
        default: Vec<Action>,
        on_default: impl FnOnce() + Send + Sync + 'static,
    ) -> Hold {
        self.deadline = Some(Deadline {
            after,
            default,
            on_default: Box::new(on_default),
        });
        self
    }

    /// Waits for the decision. Undecided: nothing is forwarded and the operator is told.
    pub(crate) async fn decided(self) -> Vec<Action> {
        let answer = match self.deadline {
            None => self.decision.await,
            Some(deadline) => match tokio::time::timeout(deadline.after, self.decision).await {
                Ok(answer) => answer,
                Err(_) => {
                    (deadline.on_default)();
                    return deadline.default;
                }
            },
        };
        match answer {
            Ok(actions) => actions,
            Err(_) => vec![Action::Tell(format!(
                "vigil: {} was not let through (no decision was made)",
                self.what
            ))],
        }
    }
}

impl Decider {
    /// Lets the decision happen: `actions` continue through the stages after the holder.
    /// Returns false when the hold is gone (its deadline took the default, or the channel
    /// closed): the decision did nothing.
    pub fn decide(self, actions: Vec<Action>) -> bool {
        self.0.send(actions).is_ok()
    }
}

/// One stage of a channel's pipeline (see the module doc). Both directions default to
/// forwarding what they are given.
pub trait Stage: Send {
    /// Operator input, as the stages before this one forwarded it.
    fn on_input(&mut self, data: Bytes) -> Vec<Action> {
        vec![Action::Forward(data)]
    }
    /// Target output, as the stages before this one forwarded it.
    fn on_output(&mut self, data: Bytes) -> Vec<Action> {
        vec![Action::Forward(data)]
    }
    /// The operator's input ended (EOF): what the stage still holds is decided now.
    fn on_input_end(&mut self) -> Vec<Action> {
        Vec::new()
    }
}

/// Builds a channel's stage when it opens, from the policy of its session.
pub trait StageFactory: Send + Sync {
    /// The stage for a channel of `kind`, or none when it does not apply to that kind.
    fn for_channel(&self, kind: ChannelKind) -> Option<Box<dyn Stage>>;
}

/// The rules a session runs under, taken once when it reaches its target (the seed's "rules
/// are fixed when the session starts"): a grant or rule changed later does not reach a
/// session already running. Every channel's pipeline is built from it.
#[derive(Clone, Default)]
pub struct Policy {
    /// Whether the grant that let the session in allows `-L` port forwards.
    pub allow_port_forwarding: bool,
    /// The audited-command rules, compiled when the session started.
    pub commands: CommandRules,
    /// How the gateway answers sudo for the session's login (none: it does not).
    pub elevation: Option<Arc<crate::elevation::Elevation>>,
    /// What the session's login may transfer (its own policy, else its target's).
    pub transfers: vigil_core::TransferPolicy,
    stages: Vec<Arc<dyn StageFactory>>,
}

impl Policy {
    pub fn new(allow_port_forwarding: bool, commands: CommandRules) -> Policy {
        Policy {
            allow_port_forwarding,
            commands,
            elevation: None,
            transfers: vigil_core::TransferPolicy::default(),
            stages: Vec::new(),
        }
    }

    /// Transfers run under `policy`.
    pub fn with_transfers(mut self, policy: vigil_core::TransferPolicy) -> Policy {
        self.transfers = policy;
        self
    }

    /// Answers sudo for the session's login as `elevation` says.
    pub fn with_elevation(mut self, elevation: crate::elevation::Elevation) -> Policy {
        self.elevation = Some(Arc::new(elevation));
        self
    }

    /// Whether a shell channel opening now starts elevated (runs
    /// [`crate::elevation::START_COMMAND`] in place of the login shell), or why not when the
    /// login is set to.
    pub fn elevated_start(&self) -> Result<bool, &'static str> {
        self.elevation
            .as_ref()
            .map_or(Ok(false), |e| e.starts_elevated())
    }

    /// Adds a stage after the ones already there.
    pub fn with_stage(mut self, factory: Arc<dyn StageFactory>) -> Policy {
        self.stages.push(factory);
        self
    }

    pub(crate) fn stages_for(&self, kind: ChannelKind) -> Vec<Box<dyn Stage>> {
        self.stages
            .iter()
            .filter_map(|f| f.for_channel(kind))
            .collect()
    }
}

/// Which way the bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    FromOperator,
    FromTarget,
}

/// What a run left: actions ready to carry out (never a `Hold`), and the hold that stopped it.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) ready: Vec<Action>,
    pub(crate) held: Option<Held>,
}

/// A run stopped by a hold: the hold, and what waits behind it with the stage each piece
/// continues from.
pub(crate) struct Held {
    hold: Hold,
    rest: VecDeque<(usize, Action)>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("what", &self.hold.what)
            .field("rest", &self.rest)
            .finish()
    }
}

impl Held {
    /// Waits for the decision; returns the work to run next (the decision, then the rest).
    pub(crate) async fn decided(self) -> VecDeque<(usize, Action)> {
        let resume_at = self.hold.resume_at;
        let mut work: VecDeque<_> = self
            .hold
            .decided()
            .await
            .into_iter()
            .map(|a| (resume_at, a))
            .collect();
        work.extend(self.rest);
        work
    }
}

/// Runs `work` (each action with the stage it continues from) through `stages`.
pub(crate) fn run(
    stages: &mut [Box<dyn Stage>],
    direction: Direction,
    mut work: VecDeque<(usize, Action)>,
) -> Outcome {
    let mut ready = Vec::new();
    while let Some((at, action)) = work.pop_front() {
        match action {
            Action::Forward(bytes) if at < stages.len() => {
                let out = match direction {
                    Direction::FromOperator => stages[at].on_input(bytes),
                    Direction::FromTarget => stages[at].on_output(bytes),
                };
                for action in out.into_iter().rev() {
                    work.push_front((at + 1, action));
                }
            }
            Action::Hold(mut hold) => {
                // A hold made by stage `at - 1` resumes at `at`, the stage after it.
                hold.resume_at = at;
                return Outcome {
                    ready,
                    held: Some(Held { hold, rest: work }),
                };
            }
            other => ready.push(other),
        }
    }
    Outcome { ready, held: None }
}

/// The operator's input ended: each stage, in order, gives what it held, which goes through
/// the stages after it.
pub(crate) fn input_ended(stages: &mut [Box<dyn Stage>]) -> Outcome {
    let mut ready = Vec::new();
    for i in 0..stages.len() {
        let out = stages[i].on_input_end();
        let work = out.into_iter().map(|a| (i + 1, a)).collect();
        let outcome = run(stages, Direction::FromOperator, work);
        ready.extend(outcome.ready);
        if outcome.held.is_some() {
            return Outcome {
                ready,
                held: outcome.held,
            };
        }
    }
    Outcome { ready, held: None }
}

/// The start of a run: one chunk at the first stage.
pub(crate) fn chunk(data: Bytes) -> VecDeque<(usize, Action)> {
    VecDeque::from([(0, Action::Forward(data))])
}

#[cfg(test)]
mod tests;
