//! The SSH user name an operator types carries the target: `alice`, `alice:web01` or
//! `alice:root@web01`.

use std::fmt;

/// What the operator asked for in the SSH user name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSpec {
    /// The Vigil user.
    pub user: String,
    /// The target name, or `None` when the operator wants the menu.
    pub target: Option<String>,
    /// The login on the target, or `None` for the target's single or default login.
    pub login: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginSpecError {
    #[error("empty user name: connect as USER, USER:TARGET or USER:LOGIN@TARGET")]
    EmptyUser,
    #[error("empty target in {0:?}: connect as USER:TARGET or USER:LOGIN@TARGET")]
    EmptyTarget(String),
    #[error("empty login in {0:?}: connect as USER:LOGIN@TARGET")]
    EmptyLogin(String),
}

impl LoginSpec {
    pub fn parse(raw: &str) -> Result<Self, LoginSpecError> {
        let (user, rest) = match raw.split_once(':') {
            Some((user, rest)) => (user, Some(rest)),
            None => (raw, None),
        };
        if user.is_empty() {
            return Err(LoginSpecError::EmptyUser);
        }
        let Some(rest) = rest else {
            return Ok(Self {
                user: user.to_owned(),
                target: None,
                login: None,
            });
        };
        // The target is after the last '@' so that logins may not contain '@' but targets
        // can never be confused with logins.
        let (login, target) = match rest.rsplit_once('@') {
            Some((login, target)) => (Some(login), target),
            None => (None, rest),
        };
        if target.is_empty() {
            return Err(LoginSpecError::EmptyTarget(raw.to_owned()));
        }
        if login.is_some_and(str::is_empty) {
            return Err(LoginSpecError::EmptyLogin(raw.to_owned()));
        }
        Ok(Self {
            user: user.to_owned(),
            target: Some(target.to_owned()),
            login: login.map(str::to_owned),
        })
    }
}

impl fmt::Display for LoginSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.user)?;
        if let Some(target) = &self.target {
            f.write_str(":")?;
            if let Some(login) = &self.login {
                write!(f, "{login}@")?;
            }
            f.write_str(target)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(user: &str, target: Option<&str>, login: Option<&str>) -> LoginSpec {
        LoginSpec {
            user: user.into(),
            target: target.map(Into::into),
            login: login.map(Into::into),
        }
    }

    #[test]
    fn parses_every_form() {
        let cases = [
            ("alice", spec("alice", None, None)),
            ("alice:web01", spec("alice", Some("web01"), None)),
            (
                "alice:root@web01",
                spec("alice", Some("web01"), Some("root")),
            ),
            ("alice:a@b@web01", spec("alice", Some("web01"), Some("a@b"))),
        ];
        for (raw, want) in cases {
            assert_eq!(LoginSpec::parse(raw), Ok(want.clone()), "{raw}");
            assert_eq!(want.to_string(), raw);
        }
    }

    #[test]
    fn rejects_empty_parts_with_a_hint() {
        assert_eq!(LoginSpec::parse(""), Err(LoginSpecError::EmptyUser));
        assert_eq!(LoginSpec::parse(":web"), Err(LoginSpecError::EmptyUser));
        assert!(matches!(
            LoginSpec::parse("alice:"),
            Err(LoginSpecError::EmptyTarget(_))
        ));
        assert!(matches!(
            LoginSpec::parse("alice:root@"),
            Err(LoginSpecError::EmptyTarget(_))
        ));
        assert!(matches!(
            LoginSpec::parse("alice:@web"),
            Err(LoginSpecError::EmptyLogin(_))
        ));
        let msg = LoginSpec::parse("alice:")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("USER:TARGET"), "{msg}");
    }
}
