//! The floors of `docs/architecture.md`, checked: every file of `src/` sits
//! on one floor and names (`crate::…`) nothing on a floor above its own, and
//! no file grows past 400 lines. A new module must be placed here, which is
//! the moment to decide where it belongs.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Bottom to top. A path ending in `/` is a folder; the longest match wins,
/// so `auth/key.rs` can sit below `auth/mod.rs`.
const FLOORS: [(&str, &[&str]); 7] = [
    (
        "vocabulary",
        &[
            "access.rs",
            "key_kind.rs",
            "secrets.rs",
            "origin.rs",
            "error/",
            "clock.rs",
        ],
    ),
    ("storage", &["db/"]),
    (
        "domain",
        &[
            "authz.rs",
            "auth/key.rs",
            "auth/cache.rs",
            "members.rs",
            "workspaces.rs",
            "portal.rs",
            "introspection.rs",
            "api_keys/",
            "tokens/",
            "dpop/",
            "used_once.rs",
            "jws.rs",
            "federation/",
            "signing/",
            "verifier/",
            "throttle.rs",
            "ratelimit/",
            "shared/",
            "passwords/",
            "usage.rs",
            "audit.rs",
            "metrics.rs",
            "bootstrap.rs",
            "config.rs",
            "tls.rs",
            "shutdown.rs",
        ],
    ),
    ("state", &["state.rs"]),
    ("services", &["auth/mod.rs", "exchange/", "login.rs"]),
    // The verifier library's actix extractor is its HTTP adapter.
    ("http", &["http/", "server.rs", "verifier/extract.rs"]),
    ("cli", &["main.rs", "lib.rs", "cli/"]),
];

/// What `auth` exports from its domain files: naming these is not naming
/// the service in `auth/mod.rs`.
const AUTH_DOMAIN_NAMES: [&str; 6] = [
    "key",
    "cache",
    "KnownKey",
    "KeyOwner",
    "Principal",
    "KeyCache",
];

/// Imports allowed to run up a floor, with why. At most two.
const ALLOWED_UPWARD: [(&str, &str); 0] = [];

const MAX_LINES: usize = 400;

fn floor_of(file: &str) -> Option<usize> {
    FLOORS
        .iter()
        .enumerate()
        .flat_map(|(floor, (_, paths))| paths.iter().map(move |path| (floor, *path)))
        .filter(|(_, path)| *path == file || (path.ends_with('/') && file.starts_with(path)))
        .max_by_key(|(_, path)| path.len())
        .map(|(floor, _)| floor)
}

/// The file that `crate::module::next` names.
fn file_named(src: &Path, module: &str, next: Option<&str>) -> Option<String> {
    if module == "auth" {
        let domain = next.is_some_and(|name| AUTH_DOMAIN_NAMES.contains(&name));
        return Some(if domain { "auth/key.rs" } else { "auth/mod.rs" }.to_owned());
    }
    [format!("{module}.rs"), format!("{module}/")]
        .into_iter()
        .find(|candidate| src.join(candidate.trim_end_matches('/')).exists())
}

fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The items of a `{…}` group at its top level, `text` starting after `{`.
fn group_items(text: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
    for (at, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&text[start..at]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    items
}

/// `(module, next segment)` of every `crate::…` path in `code`.
fn crate_paths(code: &str) -> BTreeSet<(String, Option<String>)> {
    let mut paths = BTreeSet::new();
    let mut add = |path: &str| {
        let path = path.trim();
        let module = ident(path);
        if module.is_empty() || module == "self" {
            return;
        }
        let rest = path[module.len()..].strip_prefix("::");
        let next = rest.map(|rest| ident(rest.trim_start_matches('{').trim()).to_owned());
        paths.insert((module.to_owned(), next.filter(|n| !n.is_empty())));
    };
    for (at, _) in code.match_indices("crate::") {
        let after = &code[at + "crate::".len()..];
        match after.strip_prefix('{') {
            Some(group) => group_items(group).into_iter().for_each(&mut add),
            None => add(after),
        }
    }
    paths
}

/// The file's code without comments and without its test module.
fn code_of(text: &str) -> String {
    text.lines()
        .take_while(|line| line.trim() != "#[cfg(test)]")
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

fn relative(src: &Path, path: &Path) -> String {
    path.strip_prefix(src)
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

#[test]
fn every_file_sits_on_a_floor_and_imports_nothing_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut unplaced = Vec::new();
    let mut upward = Vec::new();
    for path in &files {
        let file = relative(&src, path);
        let Some(floor) = floor_of(&file) else {
            unplaced.push(file);
            continue;
        };
        let code = code_of(&fs::read_to_string(path).unwrap());
        for (module, next) in crate_paths(&code) {
            let Some(target) = file_named(&src, &module, next.as_deref()) else {
                continue;
            };
            let target_floor = floor_of(&target).expect("a placed target");
            let allowed = ALLOWED_UPWARD
                .iter()
                .any(|(from, to)| *from == file && *to == target);
            if target_floor > floor && !allowed {
                upward.push(format!(
                    "{file} ({}) names crate::{module} ({target}, {})",
                    FLOORS[floor].0, FLOORS[target_floor].0
                ));
            }
        }
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    assert!(unplaced.is_empty(), "place these in FLOORS: {unplaced:?}");
    assert!(
        upward.is_empty(),
        "imports running up a floor:\n{}",
        upward.join("\n")
    );
}

/// Below the HTTP floor, code is framework-free: errors, the exchange and
/// the database runner speak the `http` crate's types, never actix's.
#[test]
fn nothing_below_the_http_floor_names_actix() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let http = FLOORS.iter().position(|(name, _)| *name == "http").unwrap();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let framework: Vec<String> = files
        .iter()
        .map(|path| (relative(&src, path), path))
        .filter(|(file, _)| floor_of(file).is_some_and(|floor| floor < http))
        .filter(|(_, path)| code_of(&fs::read_to_string(path).unwrap()).contains("actix"))
        .map(|(file, _)| file)
        .collect();
    assert!(files.len() > 50, "found only {} files", files.len());
    assert!(
        framework.is_empty(),
        "actix below the HTTP floor: {framework:?}"
    );
}

#[test]
fn no_file_is_longer_than_four_hundred_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .map(|path| {
            (
                relative(&src, path),
                fs::read_to_string(path).unwrap().lines().count(),
            )
        })
        .filter(|(_, lines)| *lines > MAX_LINES)
        .map(|(file, lines)| format!("{file}: {lines}"))
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:?}");
}

/// The checker itself: it must see an upward import, grouped or not, and
/// not mistake a comment for one.
#[test]
fn the_checker_reads_paths_as_rust_writes_them() {
    let code = code_of(
        "use crate::{db::{self, Pool}, state::AppState};\n\
         // crate::server is only mentioned\n\
         fn f() { crate::auth::authenticate(); crate::auth::KnownKey::find(); }\n\
         #[cfg(test)]\nmod tests { use crate::cli; }",
    );
    let paths = crate_paths(&code);
    let has =
        |module: &str, next: &str| paths.contains(&(module.to_owned(), Some(next.to_owned())));
    assert!(has("db", "self") && has("state", "AppState"), "{paths:?}");
    assert!(
        has("auth", "authenticate") && has("auth", "KnownKey"),
        "{paths:?}"
    );
    assert!(
        !paths.iter().any(|(m, _)| m == "server" || m == "cli"),
        "{paths:?}"
    );
    assert_eq!(floor_of("auth/key.rs"), floor_of("authz.rs"));
    assert!(floor_of("auth/mod.rs") > floor_of("state.rs"));
    assert!(floor_of("http/api/keys.rs") > floor_of("exchange/mod.rs"));
    assert_eq!(floor_of("nowhere.rs"), None);
}
