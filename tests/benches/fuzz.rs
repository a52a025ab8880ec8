//! A million generated inputs through every parser of outside input (the test suite runs
//! ten thousand of the same). `ZAYAVKA_FUZZ_CASES` and `ZAYAVKA_FUZZ_SEED` change the run.

#[path = "../fuzz/engine.rs"]
mod engine;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cases = std::env::var("ZAYAVKA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let seed = std::env::var("ZAYAVKA_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED_2026);
    let report = engine::run(cases, seed).await;
    report.print();
    if report.panics > 0 || !report.failures.is_empty() {
        std::process::exit(1);
    }
}
