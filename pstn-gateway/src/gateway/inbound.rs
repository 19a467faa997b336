//! Inbound: every new transaction from the SIP stack. In-dialog requests go to their
//! dialog; a new INVITE passes, in order, the source allow-list (else dropped without a
//! reply: scanners learn nothing), the trunk's digest challenge if configured (407, then
//! 403 on a wrong answer), the DID map (404), and the SDP offer: a common codec and, under
//! the trunk's `srtp` mode, a usable SDES key (488 otherwise). It then rings
//! (180) and is offered to the application as a [`crate::PhoneCall`].

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rsipstack::dialog::dialog::Dialog;
use rsipstack::sip::headers::ProxyAuthenticate;
use rsipstack::sip::{Header, HeadersExt, Method, StatusCode};
use rsipstack::transaction::{Transaction, TransactionReceiver};
use rsipstack::transport::SipConnection;
use tokio::sync::mpsc;

use super::driver::{self, Leg};
use super::Inner;
use crate::call::{CallInfo, Direction};
use crate::config::TrunkConfig;
use crate::digest;
use crate::number::Redacted;
use crate::rtp::{session, srtp};
use crate::sdp::{self, LocalMedia};

/// A nonce is good for this long: enough for a carrier to answer the challenge.
const NONCE_LIFETIME: Duration = Duration::from_secs(30);
/// Most outstanding nonces: a flood of INVITEs cannot grow memory without bound.
const MAX_NONCES: usize = 1024;

/// Serves new transactions until the gateway stops.
pub(crate) async fn serve(inner: Arc<Inner>, mut incoming: TransactionReceiver) {
    loop {
        let tx = tokio::select! {
            _ = inner.cancel.cancelled() => return,
            tx = incoming.recv() => match tx { Some(tx) => tx, None => return },
        };
        let inner = inner.clone();
        tokio::spawn(async move { handle(inner, tx).await });
    }
}

async fn handle(inner: Arc<Inner>, mut tx: Transaction) {
    if let Some(dialog) = inner.dialog_layer.match_dialog(&tx) {
        if let Dialog::Invite(mut dialog) = dialog {
            if let Err(e) = dialog.handle(&mut tx).await {
                tracing::debug!(error = %e, "pstn: in-dialog request failed");
            }
        }
        return;
    }
    let result = match tx.original.method {
        Method::Invite => offer(&inner, tx).await,
        Method::Message => super::message::message(&inner, tx).await,
        Method::Options => tx.reply(StatusCode::OK).await,
        Method::Ack => Ok(()),
        Method::Bye | Method::Cancel | Method::Info | Method::Update | Method::PRack => {
            tx.reply(StatusCode::CallTransactionDoesNotExist).await
        }
        _ => tx.reply(StatusCode::MethodNotAllowed).await,
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "pstn: reply failed");
    }
}

/// The source IP of a request: rsipstack writes the real one into the top Via's
/// `received` whenever it differs from what the Via claims.
pub(super) fn source_ip(tx: &Transaction) -> Option<IpAddr> {
    let via = tx.original.via_header().ok()?;
    let (_, host) = SipConnection::parse_target_from_via(via).ok()?;
    match host.host {
        rsipstack::sip::Host::IpAddr(ip) => Some(ip),
        rsipstack::sip::Host::Domain(_) => None,
    }
}

/// The trunk a request comes from: its source address in the trunk's allow-list, and
/// arrived over the trunk's transport (a TLS trunk's carrier sending over plain UDP is not
/// that trunk: its SDES keys and digest would be in clear).
pub(super) fn source_trunk<'a>(inner: &'a Inner, tx: &Transaction) -> Option<&'a TrunkConfig> {
    let ip = source_ip(tx)?;
    let arrived = tx.connection.as_ref().map(|c| c.transport());
    inner.config.trunks.iter().find(|t| {
        t.inbound_allow.iter().any(|n| n.contains(ip))
            && arrived.is_none_or(|a| super::transport::carries(t.transport, a))
    })
}

pub(super) fn user_part(uri: &rsipstack::sip::Uri) -> Option<String> {
    uri.auth.as_ref().map(|a| a.user.clone())
}

fn find_did<'a>(trunk: &'a TrunkConfig, user: &str) -> Option<(&'a String, &'a String)> {
    let plus = format!("+{user}");
    let bare = user.trim_start_matches('+');
    let found = [user, plus.as_str(), bare]
        .into_iter()
        .find_map(|key| trunk.dids.get_key_value(key));
    found
}

/// Checks the carrier's digest answer; `Err(status)` is the reply to send.
pub(super) fn check_auth(
    inner: &Inner,
    trunk: &TrunkConfig,
    tx: &Transaction,
) -> Result<(), (StatusCode, Option<Header>)> {
    let Some(auth) = &trunk.inbound_auth else {
        return Ok(());
    };
    let mut nonces = inner
        .nonces
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = Instant::now();
    nonces.retain(|_, t| now.saturating_duration_since(*t) < NONCE_LIFETIME);
    let answer = tx.original.headers.iter().find_map(|h| match h {
        Header::ProxyAuthorization(p) => digest::parse_credentials(p.value()),
        _ => None,
    });
    match answer {
        Some(creds) if nonces.contains_key(&creds.nonce) => {
            // The digest covers the request's own method (INVITE, or MESSAGE for SMS).
            if digest::verify(
                &creds,
                &tx.original.method.to_string(),
                &auth.username,
                &auth.realm,
                &auth.password,
            ) {
                nonces.remove(&creds.nonce);
                Ok(())
            } else {
                inner.stats.auth_failures.fetch_add(1, Ordering::Relaxed);
                Err((StatusCode::Forbidden, None))
            }
        }
        // No answer yet, or to a nonce we no longer hold: challenge (again).
        _ => {
            if nonces.len() >= MAX_NONCES {
                return Err((StatusCode::ServiceUnavailable, None));
            }
            let nonce = format!("{:032x}", rand::random::<u128>());
            nonces.insert(nonce.clone(), now);
            let header = Header::ProxyAuthenticate(ProxyAuthenticate::new(digest::challenge(
                &auth.realm,
                &nonce,
            )));
            Err((StatusCode::ProxyAuthenticationRequired, Some(header)))
        }
    }
}

async fn offer(inner: &Arc<Inner>, mut tx: Transaction) -> rsipstack::Result<()> {
    let Some(trunk) = source_trunk(inner, &tx) else {
        inner.stats.blocked_sources.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            "pstn: INVITE from outside every allow-list (or over another transport) dropped"
        );
        return Ok(());
    };
    if let Err((status, header)) = check_auth(inner, trunk, &tx) {
        return tx
            .reply_with(status, header.into_iter().collect(), None)
            .await;
    }
    let did_user = user_part(&tx.original.uri).or_else(|| {
        tx.original
            .to_header()
            .ok()
            .and_then(|t| t.uri().ok())
            .and_then(|u| user_part(&u))
    });
    let Some((did, target)) = did_user.as_deref().and_then(|u| find_did(trunk, u)) else {
        inner.stats.unknown_dids.fetch_add(1, Ordering::Relaxed);
        tracing::info!(did = %Redacted(did_user.as_deref().unwrap_or("")), trunk = %trunk.name, "pstn: unknown DID");
        return tx.reply(StatusCode::NotFound).await;
    };
    // The codec and, under the trunk's SRTP mode, the caller's key: a required key that is
    // missing is a 488 like a missing codec, never a plain-RTP call.
    let agreed = sdp::parse(&tx.original.body).and_then(|o| {
        // Opus only when the caller offered it; `prefer` takes it wherever they listed it.
        let opus_first = trunk.opus == crate::config::OpusMode::Prefer;
        let negotiated = o.negotiate_with(&trunk.codecs, opus_first)?;
        Ok((negotiated, srtp::pick(trunk.srtp, &o)?, o.savp))
    });
    let (negotiated, remote_key, savp) = match agreed {
        Ok(n) => n,
        Err(e) => {
            inner.stats.bad_offers.fetch_add(1, Ordering::Relaxed);
            tracing::info!(error = %e, "pstn: inbound offer refused");
            return tx.reply(StatusCode::NotAcceptableHere).await;
        }
    };
    let (crypto, srtp_session) = match remote_key.map(|key| srtp::answer(key, savp)) {
        None => (None, None),
        Some(Ok((crypto, session))) => (Some(crypto), Some(session)),
        Some(Err(e)) => {
            tracing::info!(error = %e, "pstn: SRTP context not created");
            return tx.reply(StatusCode::ServerInternalError).await;
        }
    };
    let Ok((socket, rtp_addr)) = session::bind(trunk.media_ip).await else {
        return tx.reply(StatusCode::ServiceUnavailable).await;
    };
    let caller = tx
        .original
        .from_header()
        .ok()
        .and_then(|f| f.uri().ok())
        .and_then(|u| user_part(&u))
        .unwrap_or_default();
    let Ok(sip_call_id) = tx.original.call_id_header().map(|c| c.value().to_string()) else {
        return tx.reply(StatusCode::BadRequest).await;
    };
    let contact = inner.sip_addrs.get(&trunk.name).and_then(|a| {
        rsipstack::sip::Uri::try_from(
            format!(
                "sip:gateway@{a}{}",
                super::transport::uri_param(trunk.transport)
            )
            .as_str(),
        )
        .ok()
    });
    let dialog = match inner.dialog_layer.get_or_create_server_invite(
        &tx,
        inner.state_sender.clone(),
        None,
        contact,
    ) {
        Ok(d) => d,
        Err(e) => {
            tracing::info!(error = %e, "pstn: dialog not created");
            return tx.reply(StatusCode::ServerInternalError).await;
        }
    };
    let (events_tx, events) = mpsc::unbounded_channel();
    inner.routes().insert(sip_call_id.clone(), events_tx);
    let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
    let negotiated_codec = negotiated.codec;
    let info = CallInfo {
        id,
        direction: Direction::Inbound,
        remote_number: caller,
        did: Some(did.clone()),
        target: Some(target.clone()),
        trunk: trunk.name.clone(),
        codec: negotiated.codec,
    };
    tracing::info!(call = id, did = %Redacted(did), caller = %Redacted(&info.remote_number), trunk = %trunk.name, codec = info.codec.name(), "pstn: inbound call");
    let (call, ends) = driver::new_call(info.clone());
    let leg = Leg {
        inner: inner.clone(),
        info,
        dialog: dialog.clone(),
        sip_call_id: sip_call_id.clone(),
        events,
        rule_events: None,
        socket,
        local: LocalMedia {
            address: trunk.media_ip,
            port: rtp_addr.port(),
            session_id: rand::random::<u32>().into(),
        },
        negotiated,
        crypto,
        srtp: srtp_session,
        answered: false,
        codecs: trunk.codecs.clone(),
        media_timeout: Duration::from_secs(trunk.media_timeout_secs),
    };
    if inner.incoming.try_send(call).is_err() {
        inner.routes().remove(&sip_call_id);
        let _ = dialog.reject(Some(StatusCode::BusyHere), None);
        inner.dialog_layer.remove_dialog(&dialog.id());
        let mut dialog = dialog;
        return dialog.handle(&mut tx).await;
    }
    inner.stats.inbound_calls.fetch_add(1, Ordering::Relaxed);
    if negotiated_codec == crate::sdp::Codec::Opus {
        inner.stats.opus_calls.fetch_add(1, Ordering::Relaxed);
    }
    let _ = dialog.ringing(None, None);
    tokio::spawn(driver::drive(leg, ends));
    // The INVITE transaction: delivers our responses, and ends with the ACK or a CANCEL.
    let mut dialog = dialog;
    dialog.handle(&mut tx).await
}
