//! Any command line: no panic, and whatever is called a transfer has no shell syntax outside
//! single quotes (so nothing else can run in a channel that is not recorded).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(command) = std::str::from_utf8(data) else {
        return;
    };
    if vigil_core::classify_exec(command).is_some() {
        let mut quoted = false;
        for c in command.chars() {
            if c == '\'' {
                quoted = !quoted;
            } else if !quoted {
                // `]` alone is literal: only `[` opens a glob.
                assert!(!";&|`$()<>\"\\\n\r*?[{}~#=!".contains(c), "{command:?}");
            }
        }
        assert!(!quoted);
    }
});
