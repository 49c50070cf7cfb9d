//! Replays every committed fuzz input (`fuzz/corpus/<target>/`, and the
//! inputs that once broke something, `fuzz/regressions/<target>/`) through
//! the same entry points the fuzz targets call: a few seconds, not a
//! fuzzing run, but each input that ever mattered keeps being checked.

use std::fs;
use std::path::Path;

#[path = "../fuzz/harness.rs"]
mod harness;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 5] = [
    ("secret", harness::secret),
    ("token_request", harness::token_request),
    ("api_body", harness::api_body),
    ("own_token", harness::own_token),
    ("pem_import", harness::pem_import),
];

fn replay(folder: &Path, target: Target) -> usize {
    let Ok(entries) = fs::read_dir(folder) else {
        return 0;
    };
    let mut replayed = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let input = fs::read(&path).unwrap();
        // A panic names the input, so it can be run again by hand.
        let outcome = std::panic::catch_unwind(|| target(&input));
        assert!(outcome.is_ok(), "{} broke an invariant", path.display());
        replayed += 1;
    }
    replayed
}

#[test]
fn every_committed_fuzz_input_still_passes() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, target) in TARGETS {
        let corpus = replay(&fuzz.join("corpus").join(name), target);
        let regressions = replay(&fuzz.join("regressions").join(name), target);
        assert!(corpus > 0, "fuzz/corpus/{name} is empty");
        eprintln!("{name}: {corpus} corpus inputs, {regressions} regressions");
    }
}
