//! Any `vigil.toml`: no panic; a file that does not load stops Vigil with a message that
//! names the file (so the operator knows where to look); one that loads resolves to
//! settings or to such a message. The loader is the binary crate's own `config.rs`, compiled
//! in here as it is (it is not in a library).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/vigil/src/config.rs"]
mod config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = Path::new("/nonexistent/vigil-data");
    let file_path = dir.join(config::CONFIG_FILE);
    let file = match config::parse(text, &file_path) {
        Ok(file) => file,
        Err(e) => {
            let message = format!("{e:#}");
            assert!(message.contains("/nonexistent/vigil-data/vigil.toml"), "{message}");
            return;
        }
    };
    match config::Settings::resolve(dir, file, &config::Overrides::default()) {
        Ok(settings) => assert_eq!(settings.data_dir, dir),
        Err(e) => {
            let message = format!("{e:#}");
            assert!(message.contains("vigil.toml"), "a bad value names the file: {message}");
        }
    }
});
