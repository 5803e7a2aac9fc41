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
    /// The command was cut to fit the message size (CEF `flexString1` Truncated, SD
    /// `truncated="1"`).
    Truncated,
    /// Where the line was read from (CEF `cs4` DetectionSource, SD `source`).
    Source(String),
    /// The session's risk score (CEF `cn2` SessionRiskScore, SD `risk`).
    Risk(i64),
    /// The rule's score (CEF `cn1` RuleScore, SD `score`).
    Score(i64),
    /// Why (CEF `reason`, SD `reason`).
    Reason(String),
    /// The target's SSH port (CEF `dpt`, SD `port`).
    Port(u16),
    /// The session's protocol: ssh, sftp, scp... (CEF `app`, SD `proto`).
    Protocol(String),
    /// Bytes from the operator and to the operator (CEF `in`/`out`, SD `bytes_in`/`bytes_out`).
    Bytes { from_client: i64, to_client: i64 },
    /// When the session started and ended, Unix ms (CEF `start`/`end`, SD `start` and
    /// `duration_ms`).
    Span { start_ms: i64, end_ms: i64 },
    /// How many events were dropped (CEF `cnt`, SD `count`).
    Count(u64),
    /// The SIEM destination an event is about (CEF `cs6` Destination, SD `destination`).
    Destination(String),
}

impl Event {
    /// The same event with its command cut to `chars` characters and marked as cut.
    pub fn with_command_cut(&self, chars: usize) -> Event {
        let mut cut = self.clone();
        for f in &mut cut.fields {
            if let Field::Command(c) = f {
                *c = c.chars().take(chars).collect();
            }
        }
        if !cut.fields.contains(&Field::Truncated) {
            cut.fields.push(Field::Truncated);
        }
        cut
    }

    /// The command's length in characters (0 without one).
    pub fn command_chars(&self) -> usize {
        self.fields
            .iter()
            .find_map(|f| match f {
                Field::Command(c) => Some(c.chars().count()),
                _ => None,
            })
            .unwrap_or(0)
    }
}
