//! Quality on real photographs, against MediaPipe's own masks (see `blackout::quality`).
//!
//! Print the table: `cargo test -p blackout --release --test quality -- --nocapture`.
//!
//! These measure how faithfully the segmentation reproduces MediaPipe, so they run without
//! the person detector (`detector: None`); `close_ups_stay_covered_with_the_detector` checks
//! the whole filter on the same photos. The whole filter is measured in `tests/eval.rs`.

use blackout::quality::{
    measure_all, table, MAX_BACKGROUND_BLACKED_PCT, MAX_LEAKAGE_PCT, TEST_PHOTOS,
};
use blackout::{FilterConfig, ModelChoice};

#[test]
fn quality_report() {
    for model in [ModelChoice::Auto, ModelChoice::Landscape] {
        let config = FilterConfig {
            model_choice: model,
            detector: None,
            ..FilterConfig::default()
        };
        let rows = measure_all(&config).expect("photos are measured");
        assert_eq!(rows.len(), TEST_PHOTOS.len());
        println!(
            "model choice {model}, defaults (threshold {}, dilation {}):",
            config.threshold, config.dilation
        );
        println!("{}", table(&rows));
    }
}

#[test]
fn quality_within_bounds_on_real_photos_with_defaults() {
    let config = FilterConfig {
        detector: None,
        ..FilterConfig::default()
    };
    let rows = measure_all(&config).expect("photos are measured");
    for row in &rows {
        assert!(
            row.person_px > 1000,
            "{}: reference has a person",
            row.image
        );
        assert!(
            row.leakage_pct() <= MAX_LEAKAGE_PCT,
            "{}: {:.3} % of the person visible (max {MAX_LEAKAGE_PCT} %)",
            row.image,
            row.leakage_pct()
        );
        assert!(
            row.background_blacked_pct() <= MAX_BACKGROUND_BLACKED_PCT,
            "{}: {:.2} % of the background blacked (max {MAX_BACKGROUND_BLACKED_PCT} %)",
            row.image,
            row.background_blacked_pct()
        );
    }
}

/// The trade-off behind the defaults: leakage / background blacked for a few thresholds and
/// dilations. `cargo test -p blackout --release --test quality -- --ignored --nocapture`.
#[test]
#[ignore = "slow sweep, prints figures for the README"]
fn quality_sweep() {
    println!("| threshold | dilation | {} |", TEST_PHOTOS.join(" | "));
    println!("| ---: | ---: |{}", " ---: |".repeat(TEST_PHOTOS.len()));
    for threshold in [0.25f32, 0.5] {
        for dilation in [0.0f32, 0.01, 0.015, 0.02, 0.03] {
            let config = FilterConfig {
                threshold,
                dilation,
                detector: None,
                ..FilterConfig::default()
            };
            let rows = measure_all(&config).expect("photos are measured");
            let cells: Vec<String> = rows
                .iter()
                .map(|r| format!("{:.3} / {:.1}", r.leakage_pct(), r.background_blacked_pct()))
                .collect();
            println!("| {threshold} | {dilation} | {} |", cells.join(" | "));
        }
    }
}

/// The person detector gates the segmenter (its mask counts only near a detected person):
/// on the close-up portraits the segmenter was made for, the whole filter must still cover
/// every person pixel of MediaPipe's mask.
#[test]
fn close_ups_stay_covered_with_the_detector() {
    let rows = measure_all(&FilterConfig::default()).expect("photos are measured");
    println!("{}", blackout::quality::table(&rows));
    for row in &rows {
        assert!(
            row.leakage_pct() <= MAX_LEAKAGE_PCT,
            "{}: {:.3} % of the person visible with the detector",
            row.image,
            row.leakage_pct()
        );
    }
}
