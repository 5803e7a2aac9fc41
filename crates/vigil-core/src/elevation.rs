//! How the gateway may answer `sudo` (and `su`) for an operator with a vaulted password
//! (issue 12). This is the setting only; the answering is the session's business.

/// Per login: whether and when the gateway answers the elevation prompt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SudoInject {
    /// Never: the prompt reaches the operator untouched.
    #[default]
    Off,
    /// The interactive shell starts elevated: the gateway runs the elevation and answers its
    /// prompt before any operator input is forwarded.
    Start,
    /// The gateway answers the prompt of a `sudo` line the operator submitted, when every
    /// rule for a safe answer holds.
    OnDemand,
}

impl SudoInject {
    pub const ALLOWED: &'static str = "off, start or on-demand";
    pub const ALL: [SudoInject; 3] = [SudoInject::Off, SudoInject::Start, SudoInject::OnDemand];

    pub fn parse(s: &str) -> Option<SudoInject> {
        SudoInject::ALL.into_iter().find(|m| m.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SudoInject::Off => "off",
            SudoInject::Start => "start",
            SudoInject::OnDemand => "on-demand",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_others_are_refused() {
        for m in [SudoInject::Off, SudoInject::Start, SudoInject::OnDemand] {
            assert_eq!(SudoInject::parse(m.as_str()), Some(m));
        }
        for bad in ["", "On", "ondemand", "on_demand", "yes"] {
            assert_eq!(SudoInject::parse(bad), None, "{bad:?}");
        }
        assert_eq!(SudoInject::default(), SudoInject::Off);
    }
}
