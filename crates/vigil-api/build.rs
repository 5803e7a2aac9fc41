//! Builds the web console (`web/`, TypeScript + Vite) into OUT_DIR and generates the table that
//! embeds it, so `cargo build` alone gives a binary with its console: no separate npm step.
//! `VIGIL_SKIP_CONSOLE=1` builds without it (a page says so).

use std::path::{Path, PathBuf};
use std::process::Command;

type Result<T> = std::result::Result<T, String>;

fn main() -> Result<()> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let web = manifest.join("../../web");
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?).join("console");
    for p in [
        "src",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
    ] {
        println!("cargo:rerun-if-changed={}", web.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=VIGIL_SKIP_CONSOLE");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    if std::env::var_os("VIGIL_SKIP_CONSOLE").is_some_and(|v| v == "1") {
        std::fs::write(out.join("index.html"), "<!doctype html><title>Vigil</title><p>This Vigil was built with VIGIL_SKIP_CONSOLE=1: the web console is not included. The API is at /api/v1.</p>")
            .map_err(|e| e.to_string())?;
    } else {
        build_console(&web, &out)?;
    }
    let mut files = Vec::new();
    collect(&out, &out, &mut files)?;
    files.sort();
    let mut table = String::from("pub(crate) static ASSETS: &[(&str, &str, &[u8])] = &[\n");
    for (rel, abs) in files {
        table.push_str(&format!(
            "    ({rel:?}, {:?}, include_bytes!({:?})),\n",
            mime(&rel),
            abs.display().to_string()
        ));
    }
    table.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?)
        .join("console_assets.rs");
    std::fs::write(&dest, table).map_err(|e| format!("cannot write {}: {e}", dest.display()))
}

fn npm(web: &Path, args: &[&str]) -> Result<()> {
    let status = Command::new("npm")
        .args(args)
        .current_dir(web)
        .status()
        .map_err(|e| format!("cannot run npm ({e}): install Node.js 20 or later, or build with VIGIL_SKIP_CONSOLE=1 to leave the web console out"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "npm {} failed in {} ({status}); see its output above",
            args.join(" "),
            web.display()
        ))
    }
}

fn build_console(web: &Path, out: &Path) -> Result<()> {
    let lock = web.join("package-lock.json");
    let installed = web.join("node_modules/.package-lock.json");
    let stale = match (
        std::fs::metadata(&lock).and_then(|m| m.modified()),
        std::fs::metadata(&installed).and_then(|m| m.modified()),
    ) {
        (Ok(l), Ok(i)) => l > i,
        _ => true,
    };
    if stale {
        // Not `npm ci`: it insists that the lock lists every platform's optional package
        // (rollup ships one per OS and CPU), and registries that serve only this platform's
        // cannot produce such a lock. `npm install` follows the committed lock all the same.
        npm(
            web,
            &["install", "--no-audit", "--no-fund", "--loglevel=error"],
        )?;
    }
    npm(
        web,
        &[
            "run",
            "--silent",
            "build",
            "--",
            "--outDir",
            &out.display().to_string(),
            "--emptyOutDir",
            "--logLevel",
            "warn",
        ],
    )
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) -> Result<()> {
    for entry in
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?
    {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            collect(root, &path, files)?;
        } else {
            let rel = path
                .strip_prefix(root)
                .map_err(|e| e.to_string())?
                .to_string_lossy()
                .replace('\\', "/");
            files.push((rel, path));
        }
    }
    Ok(())
}

fn mime(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "woff2" => "font/woff2",
        "map" => "application/json",
        _ => "application/octet-stream",
    }
}
