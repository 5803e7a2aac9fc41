//! One event as the formatters see it.

/// What happened, in the terms both formats need. Times are the event's own (Unix ms), never
/// the time of sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The stable evidence kind (`command_detected`, `locked`...).
    pub kind: String,
    /// CEF signature id (stable per kind, see `docs/EVENTS.md`).
    pub signature: u32,
    /// RFC 5424 MSGID (at most 32 printable ASCII characters).
    pub msgid: String,
    /// A short human name (CEF Name).
    pub name: String,
    /// 0 (least) to 10 (most severe), as CEF has it.
    pub severity: u8,
    /// When it happened, Unix milliseconds.
    pub at_ms: i64,
    /// The event's unique id (the evidence sequence, for gaps).
    pub id: String,
    /// The node that wrote it.
    pub node: String,
    /// The fields, in order (CEF keys and RFC 5424 SD params are derived from them).
    pub fields: Vec<Field>,
    /// A sentence for people (CEF `msg`, RFC 5424 MSG).
    pub message: String,
}

/// One field of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// The Vigil user who acted (CEF `suser`, SD `user`).
    User(String),
    /// The client address (CEF `src` for IPv4, `shost` otherwise; SD `src`).
    Client(String),
    /// The target login (CEF `duser`, SD `login`).
    Login(String),
    /// The target (CEF `dhost`, SD `target`).
    Target(String),
    /// The action taken (CEF `act`, SD `action`).
    Action(String),
    /// The session (CEF `cs1` SessionId, SD `sid`).
    Session(String),
    /// The rule (CEF `cs2` Rule, SD `rule`).
    Rule(String),
    /// The command line (CEF `cs3` Command, SD `cmd`).
    Command(String),
    /// Where the line was read from (CEF `cs4` DetectionSource, SD `source`).
    Source(String),
    /// The session's risk score (CEF `cn2` SessionRiskScore, SD `risk`).
    Risk(i64),
    /// The rule's score (CEF `cn1` RuleScore, SD `score`).
    Score(i64),
    /// Why (CEF `reason`, SD `reason`).
    Reason(String),
}
