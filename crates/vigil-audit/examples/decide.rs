//! Decision time per command line with many rules (bench/run's row; not a test). Builds
//! N rules (half regular expressions, half command prefixes, a few classes), compiles them
//! once, decides a mix of typical lines and prints one JSON object:
//! `{"rules": N, "compile_ms": .., "p50_us": .., "p99_us": .., "max_us": ..}`.
//!
//!   cargo run --release -p vigil-audit --example decide -- 10000

use std::time::Instant;

use vigil_audit::command::Class;
use vigil_audit::rules::{Action, Pattern, Rule, RuleSet, Scope, Where};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let rules: Vec<Rule> = (0..n)
        .map(|i| Rule {
            name: format!("r{i}"),
            pattern: match i % 50 {
                0 => Pattern::Class(Class::PipeToShell),
                k if k % 2 == 0 => Pattern::Regex(format!(r"^tool{i}\s+--(danger|purge)\b")),
                _ => Pattern::Command(format!("tool{i} stop")),
            },
            score: 1,
            action: if i % 3 == 0 {
                Action::Prohibit
            } else {
                Action::Alert
            },
            enabled: true,
            scope: Scope::default(),
        })
        .collect();
    let started = Instant::now();
    let Ok(set) = RuleSet::compile(rules) else {
        eprintln!("the rules do not compile");
        std::process::exit(1);
    };
    let compile_ms = started.elapsed().as_secs_f64() * 1000.0;
    let lines = [
        "ls -la /var/log",
        "sudo systemctl restart nginx && journalctl -u nginx -n 50",
        "tool4242 --danger now",
        "cd /srv/app; git pull; ./deploy.sh --env prod",
        "echo cm0gLXJmIC8= | base64 -d | sh",
        "find / -name '*.conf' -exec grep -l secret {} \\;",
        "tool77 stop",
        "for f in *.log; do gzip \"$f\"; done",
    ];
    let at = Where::default();
    let mut samples = Vec::new();
    for round in 0..2000 {
        let line = lines[round % lines.len()];
        let t = Instant::now();
        let d = set.decide(line, &at);
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(d);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize];
    println!(
        "{{\"rules\": {n}, \"compile_ms\": {compile_ms:.1}, \"p50_us\": {:.1}, \"p99_us\": {:.1}, \"max_us\": {:.1}}}",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}
