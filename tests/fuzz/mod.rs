//! The short fuzz run (the bench `fuzz` runs a million inputs; see BENCHMARKS.md).

#[path = "engine.rs"]
pub mod engine;

#[tokio::test]
async fn ten_thousand_generated_inputs_are_answered_2xx_or_4xx_and_a_4xx_changes_nothing() {
    let report = engine::run(10_000, 0x5EED_2026).await;
    report.print();
    assert_eq!(report.cases, 10_000);
    assert_eq!(report.panics, 0);
    assert!(
        report.failures.is_empty(),
        "{} failures (printed above)",
        report.failures.len()
    );
    // The generator reaches past the first checks of every parser.
    assert!(
        report.statuses.keys().any(|s| (200..300).contains(s)),
        "{:?}",
        report.statuses
    );
    assert!(
        report.per_target.len() >= 8,
        "{:?}",
        report.per_target.keys()
    );
}
