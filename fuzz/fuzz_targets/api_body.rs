#![no_main]

// The body lives in ../harness.rs, which tests/fuzz_corpora.rs includes too,
// so a plain cargo test replays the committed corpus through the same code.
#[path = "../harness.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::api_body(data));
