//! Any command line: lexing and deciding never panic, and a command put on a line of its own
//! after any complete line is always found (what an operator types before it cannot hide it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_audit::command::commands;
use vigil_audit::lex::lex;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let lexed = lex(line);
    if lexed.incomplete || line.contains('#') || line.contains("<<") || line.ends_with('\\') {
        return;
    }
    let pasted = format!("{line}\nrm -rf /");
    let found = commands(&pasted)
        .iter()
        .any(|c| c.views.iter().any(|v| v == "rm -rf /"));
    assert!(found, "{pasted:?}");
});
