//! `GET /join/<room>`: the page an invite link opens in a browser. It hands the room to the
//! app (`phantomcall://join/<host>/<room>`, by a meta refresh, which needs no script) and
//! shows that link as text for copying. It does not say whether the room exists (a probe for
//! room ids learns nothing), and it is served with headers that allow it nothing: no
//! script, style, frame, form or referrer.

use super::api::invite_links;
use super::http::Response;
use super::protocol::is_uuid_v4;
use super::AppState;
use crate::sfu::RoomId;

/// The Content-Security-Policy of the page.
pub const CSP: &str =
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The page for `id` (the path after `/join/`), or 404 if it is not a room id.
pub fn page(state: &AppState, id: &str) -> Response {
    let room = match RoomId::parse(id) {
        Ok(room) if is_uuid_v4(id) => room,
        _ => {
            return with_security_headers(state, Response::error(404, "not_found", "no such room"))
        }
    };
    let (_, app) = invite_links(state.config.scheme(), &state.config.public_host, room);
    let link = escape(&app);
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width\">\n\
         <meta http-equiv=\"refresh\" content=\"0;url={link}\">\n\
         <title>Join a PhantomCall conference</title>\n</head>\n<body>\n\
         <h1>Join a PhantomCall conference</h1>\n\
         <p><a href=\"{link}\">Open in PhantomCall</a></p>\n\
         <p>If the app does not open, copy this link into PhantomCall:</p>\n\
         <p><code>{link}</code></p>\n</body>\n</html>\n"
    );
    let response = Response {
        status: 200,
        headers: vec![("Content-Type", "text/html; charset=utf-8".to_owned())],
        body: body.into_bytes(),
    };
    with_security_headers(state, response)
}

fn with_security_headers(state: &AppState, response: Response) -> Response {
    let response = response
        .with_header("Content-Security-Policy", CSP)
        .with_header("X-Content-Type-Options", "nosniff")
        .with_header("Referrer-Policy", "no-referrer")
        .with_header("X-Frame-Options", "DENY")
        .with_header("Cross-Origin-Opener-Policy", "same-origin")
        .with_header("Cross-Origin-Resource-Policy", "same-origin")
        .with_header(
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=(), display-capture=()",
        );
    if state.config.tls.is_some() {
        response.with_header("Strict-Transport-Security", "max-age=31536000")
    } else {
        response
    }
}

/// HTML-escapes text for an attribute or element.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
