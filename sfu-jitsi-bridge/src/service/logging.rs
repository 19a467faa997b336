//! The service's log filter: the operator's directives, with webrtc-rs's targets always off
//! (its logs name peer and local addresses).

/// Directives always appended.
pub const WEBRTC_LOGS_OFF: &str = "rtc=off,webrtc=off";

/// The filter for `user` (`RUST_LOG`-style; empty: `info`), minus any directive for an
/// `rtc*` or `webrtc*` target, plus [`WEBRTC_LOGS_OFF`].
pub fn log_filter(user: &str) -> String {
    let mut kept: Vec<&str> = user
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .filter(|d| !(d.starts_with("rtc") || d.starts_with("webrtc")))
        .collect();
    if kept.is_empty() {
        kept.push("info");
    }
    format!("{},{WEBRTC_LOGS_OFF}", kept.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webrtc_logs_stay_off_whatever_the_operator_asks() {
        assert_eq!(log_filter(""), "info,rtc=off,webrtc=off");
        assert_eq!(
            log_filter("debug,webrtc=trace,rtc_ice=debug"),
            "debug,rtc=off,webrtc=off"
        );
    }
}
