//! The HTTP endpoints.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/healthz` | `ok`: the process serves (liveness) |
//! | GET | `/readyz` | `ready`, or 503 when no media server can take a participant |
//! | GET | `/metrics` | Prometheus counts ([`super::metrics`]), nothing identifying |
//! | POST | `/v1/auth/challenge` | a SIWS sign-in input for the wallet |
//! | POST | `/v1/auth/sign-in` | `{message, signature (base64), address}`: a session |
//! | POST | `/v1/auth/refresh` | `{refresh_token}`: a new session |
//! | POST | `/v1/stripe/webhook` | a Stripe delivery (raw body, `Stripe-Signature`) |
//! | POST | `/v1/rooms` | `Authorization: Bearer <session>`: a new room and its links |
//! | GET | `/join/<room>` | the invite page ([`super::join_page`]) |
//! | GET | `/v1/signal` | the signaling WebSocket ([`super::signal`]) |
//!
//! Errors are JSON `{"error": code, "message": text}`. The auth store is synchronous
//! (SQLite or the blocking PostgreSQL client), so its calls run on Tokio's blocking pool.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use super::http::{Request, Response};
use super::{join_page, AppState};
use crate::auth::{AuthError, Session};
use crate::sfu::RoomId;

/// The Stripe webhook's path (its bodies have a limit of their own).
pub const STRIPE_WEBHOOK_PATH: &str = "/v1/stripe/webhook";

/// Answers one request.
pub async fn handle(state: &Arc<AppState>, request: &Request) -> Response {
    let path = request.path.as_str();
    match (request.method.as_str(), path) {
        ("GET", "/healthz") => Response {
            status: 200,
            headers: vec![("Content-Type", "text/plain".to_owned())],
            body: b"ok".to_vec(),
        },
        ("GET", "/readyz") => {
            let ready = state.conference.backend().ready();
            Response {
                status: if ready { 200 } else { 503 },
                headers: vec![("Content-Type", "text/plain".to_owned())],
                body: if ready {
                    b"ready".to_vec()
                } else {
                    b"no media server".to_vec()
                },
            }
        }
        ("GET", "/metrics") => Response {
            status: 200,
            headers: vec![("Content-Type", "text/plain; version=0.0.4".to_owned())],
            body: super::metrics::render(state).into_bytes(),
        },
        ("POST", "/v1/auth/challenge") => challenge(state).await,
        ("POST", "/v1/auth/sign-in") => sign_in(state, request).await,
        ("POST", "/v1/auth/refresh") => refresh(state, request).await,
        ("POST", STRIPE_WEBHOOK_PATH) => stripe_webhook(state, request).await,
        ("POST", "/v1/rooms") => create_room(state, request).await,
        ("GET", p) if p.starts_with("/join/") => join_page::page(state, &p["/join/".len()..]),
        (_, "/healthz" | "/v1/auth/challenge" | "/v1/auth/sign-in" | "/v1/auth/refresh")
        | (_, "/v1/stripe/webhook" | "/v1/rooms") => {
            Response::error(405, "method_not_allowed", "method not allowed")
        }
        _ => Response::error(404, "not_found", "no such endpoint"),
    }
}

/// Runs a synchronous store-backed call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Response> + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|_| Err(Response::error(500, "internal", "internal error")))
}

fn auth_error(e: &AuthError) -> Response {
    match e {
        AuthError::Store(_) => {
            tracing::error!(error = %e, "auth store failed");
            Response::error(500, "internal", "internal error")
        }
        AuthError::SignIn(_) => Response::error(401, "sign_in_refused", &e.to_string()),
        _ => Response::error(401, "unauthorized", &e.to_string()),
    }
}

fn session_json(session: &Session) -> Response {
    Response::json(
        200,
        &json!({
            "access_token": session.access_token,
            "token_type": "Bearer",
            "expires_at": session.claims.exp,
            "tier": session.claims.tier,
            "refresh_token": session.refresh_token.as_str(),
            "refresh_expires_at": session.refresh_expires_at,
        }),
    )
}

fn parse_body<T: for<'de> Deserialize<'de>>(request: &Request) -> Result<T, Response> {
    serde_json::from_slice(&request.body)
        .map_err(|_| Response::error(400, "bad_request", "the body is not the expected JSON"))
}

async fn challenge(state: &Arc<AppState>) -> Response {
    let state = state.clone();
    let result = blocking(move || {
        state
            .auth
            .challenge(OffsetDateTime::now_utc())
            .map_err(|e| auth_error(&e))
    })
    .await;
    match result {
        Ok(input) => Response::json(200, &json!(input)),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInBody {
    /// The signed message text, exactly as signed.
    message: String,
    /// The 64-byte Ed25519 signature, standard base64.
    signature: String,
    /// The wallet's address (base58).
    address: String,
}

async fn sign_in(state: &Arc<AppState>, request: &Request) -> Response {
    let body: SignInBody = match parse_body(request) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(&body.signature) else {
        return Response::error(400, "bad_request", "signature is not standard base64");
    };
    let state = state.clone();
    let result = blocking(move || {
        state
            .auth
            .sign_in(
                body.message.as_bytes(),
                &signature,
                Some(&body.address),
                OffsetDateTime::now_utc(),
            )
            .map_err(|e| auth_error(&e))
    })
    .await;
    match result {
        Ok(session) => session_json(&session),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
}

async fn refresh(state: &Arc<AppState>, request: &Request) -> Response {
    let body: RefreshBody = match parse_body(request) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let state = state.clone();
    let result = blocking(move || {
        state
            .auth
            .refresh(&body.refresh_token, OffsetDateTime::now_utc())
            .map_err(|e| auth_error(&e))
    })
    .await;
    match result {
        Ok(session) => session_json(&session),
        Err(r) => r,
    }
}

async fn stripe_webhook(state: &Arc<AppState>, request: &Request) -> Response {
    if state.stripe.is_none() {
        return Response::error(404, "not_found", "Stripe is not configured");
    }
    let Some(signature) = request.header("stripe-signature").map(str::to_owned) else {
        return Response::error(400, "bad_signature", "no Stripe-Signature header");
    };
    let (state, body) = (state.clone(), request.body.clone());
    let result = blocking(move || {
        let stripe = state.stripe.as_ref().expect("checked above");
        crate::stripe::handle_webhook(
            state.store.as_ref(),
            &stripe.prices,
            &body,
            &signature,
            &stripe.secret,
            OffsetDateTime::now_utc(),
        )
        .map_err(|e| Response::error(e.http_status(), "webhook_refused", &e.to_string()))
    })
    .await;
    match result {
        Ok(outcome) => Response::json(200, &json!({ "received": outcome.event_id })),
        Err(r) => r,
    }
}

async fn create_room(state: &Arc<AppState>, request: &Request) -> Response {
    let Some(token) = request.bearer() else {
        return Response::error(401, "unauthorized", "a session token is required")
            .with_header("WWW-Authenticate", "Bearer");
    };
    let claims = match state.auth.check(token, OffsetDateTime::now_utc()) {
        Ok(c) => c,
        Err(e) => return auth_error(&e),
    };
    if let Err(wait) = state.room_creations.check(&claims.sub, Instant::now()) {
        return Response::error(
            429,
            "rate_limited",
            "too many rooms created: wait a minute and try again",
        )
        .with_header("Retry-After", (wait.as_secs() + 1).to_string());
    }
    let host_key = super::directory::host_key(state.auth.keys(), &claims.sub);
    let room = state.conference.create_room(&host_key, claims.tier).await;
    let host = &state.config.public_host;
    let (web, app) = invite_links(state.config.scheme(), host, room.id);
    let entitlements = claims.tier.entitlements();
    tracing::info!(
        wallet = %crate::logsafe::ShortAddress(&claims.sub),
        room = ?room.id,
        tier = %claims.tier,
        "room created"
    );
    Response::json(
        201,
        &json!({
            "room": room.id.as_uuid().to_string(),
            "invite_url": web,
            "app_url": app,
            "tier": claims.tier,
            "max_participants": entitlements.max_participants,
            "max_duration_secs": state.config.limits.room_duration(claims.tier).as_secs(),
        }),
    )
}

/// The two invite links of a room: `https://<host>/join/<uuid>` (the web page) and
/// `phantomcall://join/<host>/<uuid>` (the app's own scheme; `<host>` is the service's
/// authority, with its port when not 443, so the app knows which service to call).
pub fn invite_links(scheme: &str, host: &str, room: RoomId) -> (String, String) {
    let id = room.as_uuid();
    (
        format!("{scheme}://{host}/join/{id}"),
        format!("phantomcall://join/{host}/{id}"),
    )
}
