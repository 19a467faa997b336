//! Spike alerts to the operator's webhook: a POST of a small JSON document, off the
//! calling path (a slow or dead webhook never delays a call). It names no user and no
//! number, and the URL (which often carries a secret token) is never logged.

use std::time::Duration;

/// How long one POST may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `url` may receive alerts: `https://`, or `http://` to a loopback host (a local
/// relay to a pager), so a token in the URL never crosses a network in clear.
pub fn acceptable_url(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    match parsed.scheme() {
        "https" => parsed.host().is_some(),
        "http" => match parsed.host() {
            Some(url::Host::Domain(host)) => host == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

/// The alert document.
pub fn body(attempts_last_minute: usize, alerts: u64, unix_time: u64) -> String {
    serde_json::json!({
        "alert": "pstn_outbound_call_spike",
        "attempts_last_minute": attempts_last_minute,
        "alerts_so_far": alerts,
        "time": unix_time,
    })
    .to_string()
}

/// Sends the alert in the background (needs a tokio runtime).
pub fn notify(url: String, attempts_last_minute: usize, alerts: u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let body = body(attempts_last_minute, alerts, now);
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        match agent
            .post(&url)
            .header("Content-Type", "application/json")
            .send(body.as_bytes())
        {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                tracing::warn!(
                    status = response.status().as_u16(),
                    "pstn: alert webhook refused the alert"
                )
            }
            Err(_) => tracing::warn!("pstn: alert webhook unreachable"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_receives_alerts() {
        for good in [
            "https://ops.example/hooks/pstn?token=x",
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://[::1]:8080/",
        ] {
            assert!(acceptable_url(good), "{good}");
        }
        for bad in [
            "http://ops.example/hook",
            "ftp://127.0.0.1/",
            "not a url",
            "https://",
            "",
        ] {
            assert!(!acceptable_url(bad), "{bad}");
        }
    }

    #[test]
    fn the_alert_names_no_user_and_no_number() {
        let doc: serde_json::Value = serde_json::from_str(&body(31, 2, 1_700_000_000)).unwrap();
        assert_eq!(doc["attempts_last_minute"], 31);
        assert_eq!(doc.as_object().unwrap().len(), 4);
    }
}
