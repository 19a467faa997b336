//! Issue 13's evaluation: the whole filter (segmenter + person detector) on real photographs
//! and a real clip with people, against hand-marked person regions (see `blackout::eval`,
//! `blackout::entry_eval`, `model/evaldata/SOURCES.md`).
//!
//! Print the tables:
//! `cargo test -p blackout --release --test eval -- --nocapture --test-threads 1`.

use blackout::entry_eval::{measure_clip, table as clip_table};
use blackout::eval::{
    mean_background_pct, measure_all, table, EMPTY_IMAGES, MAX_BACKGROUND_EMPTY_PCT,
    MAX_MEAN_BACKGROUND_PEOPLE_PCT, PEOPLE_IMAGES,
};
use blackout::FilterConfig;

#[test]
fn eval_report_new_and_old_pipeline() {
    let new = measure_all(&FilterConfig::with_person_detector()).expect("images are measured");
    let old = measure_all(&FilterConfig {
        detector: None,
        ..FilterConfig::default()
    })
    .expect("images are measured");
    assert_eq!(new.len(), PEOPLE_IMAGES.len() + EMPTY_IMAGES.len());
    println!(
        "new pipeline (segmenter + person detector, defaults):\n{}",
        table(&new)
    );
    println!("old pipeline (segmenter alone):\n{}", table(&old));
    for (n, o) in new.iter().zip(&old) {
        assert_eq!(n.person_px, o.person_px, "{}: same truth", n.image);
        // The detector's boxes are added to the segmenter's mask: never less covered.
        assert!(
            n.leaked_px <= o.leaked_px,
            "{}: the union leaks {} px, the segmenter alone {}",
            n.image,
            n.leaked_px,
            o.leaked_px
        );
    }
}

#[test]
fn eval_images_with_people_have_people_and_empty_ones_none() {
    let rows = measure_all(&FilterConfig::with_person_detector()).expect("images are measured");
    for r in &rows {
        let expect_people = PEOPLE_IMAGES.contains(&r.image.as_str());
        assert_eq!(r.persons > 0, expect_people, "{}: truth labels", r.image);
    }
    for r in rows.iter().filter(|r| r.persons == 0) {
        assert!(
            r.background_blacked_pct() <= MAX_BACKGROUND_EMPTY_PCT,
            "{}: {:.2} % of an image without anyone blacked",
            r.image,
            r.background_blacked_pct()
        );
    }
    let mean = mean_background_pct(&rows, true);
    assert!(
        mean <= MAX_MEAN_BACKGROUND_PEOPLE_PCT,
        "{mean:.2} % of the background blacked on average with people"
    );
}

/// The trade-offs behind the detector defaults: per setting, worst leakage, worst
/// torso-and-legs, mean background with and without people.
#[test]
#[ignore = "slow sweep, prints figures for the README"]
fn eval_sweep() {
    let base = FilterConfig::with_person_detector()
        .detector
        .expect("detector on by default");
    println!("| min score | margin | gate | worst leakage % | worst torso+legs % | mean bg people % | mean bg empty % | worst bg empty % |");
    println!("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    let settings = [
        (0.3, 0.1, None),
        (0.3, 0.05, Some(0.5)),
        (0.15, 0.05, Some(0.5)),
        (0.1, 0.05, Some(0.5)),
    ];
    for (min_score, margin, gate) in settings {
        let config = FilterConfig {
            detector: Some(blackout::DetectorConfig {
                min_score,
                margin,
                segmenter_gate: gate,
                ..base
            }),
            ..FilterConfig::default()
        };
        let rows = measure_all(&config).expect("images are measured");
        let people = rows.iter().filter(|r| r.persons > 0);
        let worst_leak = people.clone().map(|r| r.leakage_pct()).fold(0.0, f64::max);
        let worst_body = people.map(|r| r.min_torso_legs_pct).fold(100.0, f64::min);
        let worst_empty = rows
            .iter()
            .filter(|r| r.persons == 0)
            .map(|r| r.background_blacked_pct())
            .fold(0.0, f64::max);
        println!(
            "| {min_score} | {margin} | {gate:?} | {worst_leak:.3} | {worst_body:.1} | {:.2} | {:.2} | {worst_empty:.2} |",
            mean_background_pct(&rows, true),
            mean_background_pct(&rows, false)
        );
    }
}

/// The clip through the live filter, frames back to back with the deadline lifted: the
/// detector (on its own thread) lags more frames behind than at a camera's 24 fps, so this
/// is the harsher case, and a loaded machine cannot turn frames black instead of measuring.
/// Frames of exposure per person entering the frame, for the new pipeline with and without
/// the motion mask and for the old one. Slow; run with `--ignored`.
#[test]
#[ignore = "runs the 795-frame clip three times; prints the entry tables"]
fn eval_clip_entries() {
    let with = FilterConfig::with_person_detector().detector;
    let without_motion = with.map(|d| blackout::DetectorConfig { motion: None, ..d });
    for (label, detector) in [
        ("new pipeline (detector + motion mask)", with),
        ("new pipeline without the motion mask", without_motion),
        ("old pipeline (segmenter alone)", None),
    ] {
        let report = measure_clip(&unhurried(detector), None).expect("clip is measured");
        assert!(report.frames > 700 && !report.entries.is_empty());
        println!(
            "{label}, clip frames back to back:\n{}",
            clip_table(&report)
        );
    }
}

/// With the motion mask, no frame of any entry exposes the person entering (issue 13's
/// target), frames back to back as above. Slow; run with `--ignored`.
#[test]
#[ignore = "runs the 795-frame clip"]
fn eval_clip_entries_are_covered_with_the_motion_mask() {
    let report = measure_clip(
        &unhurried(FilterConfig::with_person_detector().detector),
        None,
    )
    .expect("clip is measured");
    let exposed: Vec<_> = report.entries.iter().filter(|e| e.exposed > 0).collect();
    assert!(exposed.is_empty(), "entries exposed: {exposed:?}");
    assert!(
        report.black_frames * 10 < report.frames,
        "{} of {} frames all black: the measurement measured the fail-safe",
        report.black_frames,
        report.frames
    );
}

/// The clip as a camera would deliver it: 24 frames a second of wall clock with the live
/// deadline, so frames the pipeline cannot finish in time go out black (and count as
/// covering the person, as a black frame does). The detector at the filter's priority and at
/// its default lower one. Run it on a quiet machine (pinned to one core with `taskset -c 0`
/// for the one-core figure). Slow; run with `--ignored`.
#[test]
#[ignore = "plays the 795-frame clip twice in real time (about 70 s)"]
fn eval_clip_entries_in_real_time() {
    let lowered = FilterConfig::with_person_detector().detector;
    let same = lowered.map(|d| blackout::DetectorConfig { nice: 0, ..d });
    for (label, detector) in [
        ("detector at the filter's priority", same),
        ("detector at its lowered priority (default)", lowered),
    ] {
        let config = FilterConfig {
            detector,
            ..FilterConfig::default()
        };
        let report = measure_clip(&config, Some(24.0)).expect("clip is measured");
        println!(
            "{label}, clip at 24 fps with the live deadline:\n{}",
            clip_table(&report)
        );
        // Late frames go black, so lateness never exposes anyone.
        assert!(report.frames > 700 && !report.entries.is_empty());
        let exposed: Vec<_> = report.entries.iter().filter(|e| e.exposed > 0).collect();
        assert!(exposed.is_empty(), "{label}: entries exposed: {exposed:?}");
    }
}

fn unhurried(detector: Option<blackout::DetectorConfig>) -> FilterConfig {
    FilterConfig {
        detector,
        deadline: std::time::Duration::from_secs(30),
        stall_limit: std::time::Duration::from_secs(60),
        ..FilterConfig::default()
    }
}
