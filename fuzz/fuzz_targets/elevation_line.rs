//! Any submitted line: judging it for sudo answering never panics, and a line the gateway
//! would answer for is always one plain command whose program is sudo or su itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_audit::elevation::{Eligibility, changes_elevation, clears_sudo_ticket, eligibility};
use vigil_audit::lex::lex;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let _ = changes_elevation(line);
    let _ = clears_sudo_ticket(line);
    if let Eligibility::Answer(tool) = eligibility(line) {
        let lexed = lex(line);
        assert_eq!(lexed.commands.len(), 1, "{line:?}");
        assert!(lexed.commands[0].assignments.is_empty(), "{line:?}");
        let program = lexed.commands[0].words[0].rsplit('/').next().unwrap_or("");
        assert_eq!(program, tool.as_str(), "{line:?}");
        assert!(!line.contains(['|', ';', '&', '$', '`', '\n']), "{line:?}");
    }
});
