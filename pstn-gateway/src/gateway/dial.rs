//! Outbound: rules first (nothing reaches the trunk for a refused call), then the INVITE
//! with our offer; rsipstack answers one 401/407 with the trunk's credentials; a second
//! challenge means the credentials are wrong.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::sip::{HeadersExt, StatusCode};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::driver::{self, Leg};
use super::Inner;
use crate::call::{CallInfo, Direction, PhoneCall};
use crate::number::{NumberError, Redacted, E164};
use crate::rtp::session;
use crate::rtp::srtp::{self, SrtpKeys, SrtpSession};
use crate::rules::Refusal;
use crate::sdp::{self, LocalMedia};

/// Why an outbound call did not connect.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DialError {
    /// The number is not E.164.
    #[error("{0}")]
    InvalidNumber(#[from] NumberError),
    /// No trunk of that name.
    #[error("no trunk named {0:?}")]
    UnknownTrunk(String),
    /// The gateway's rules refused (blocked destination, no credit, caps): the message is
    /// for the user.
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// The trunk refused our credentials (a second 401/407, or 403 after answering one).
    #[error("the trunk refused the gateway's credentials")]
    AuthFailed,
    /// The carrier says the account is out of funds (402).
    #[error("the carrier account has no credit")]
    NoCredit,
    /// Busy (486, 600).
    #[error("busy")]
    Busy,
    /// Not answered in time (the INVITE was cancelled), or the trunk did not respond.
    #[error("no answer")]
    Timeout,
    /// The caller gave up before the number answered (the INVITE was cancelled).
    #[error("cancelled")]
    Cancelled,
    /// Any other final response.
    #[error("rejected by the trunk: {code}")]
    Rejected {
        /// The SIP status code.
        code: u16,
    },
    /// The answer's SDP was unusable (the call was ended with BYE).
    #[error("the trunk's answer has no usable audio: {0}")]
    BadAnswer(String),
    /// Local failure (socket, SIP stack).
    #[error("gateway error: {0}")]
    Internal(String),
}

fn status_error(code: &StatusCode, challenged: bool) -> DialError {
    let code = u16::from(code.clone());
    match code {
        401 | 407 => DialError::AuthFailed,
        403 if challenged => DialError::AuthFailed,
        402 => DialError::NoCredit,
        486 | 600 => DialError::Busy,
        408 | 480 => DialError::Timeout,
        code => DialError::Rejected { code },
    }
}

pub(crate) async fn dial(
    inner: Arc<Inner>,
    user: &str,
    trunk_name: &str,
    number: &str,
    cancel: CancellationToken,
) -> Result<PhoneCall, DialError> {
    let number = E164::parse(number)?;
    let trunk = inner
        .config
        .trunk(trunk_name)
        .ok_or_else(|| DialError::UnknownTrunk(trunk_name.to_string()))?
        .clone();
    let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
    let (verdict, spike) = {
        let mut rules = inner.rules();
        let alerts = rules.alerts();
        let verdict = rules.authorize(id, user, &number, Instant::now());
        let spike =
            (rules.alerts() > alerts).then(|| (rules.attempts_last_minute(), rules.alerts()));
        (verdict, spike)
    };
    if let (Some((attempts, alerts)), Some(url)) = (spike, &inner.config.rules.alert_webhook_url) {
        crate::alert::notify(url.clone(), attempts, alerts);
    }
    if let Err(refusal) = verdict {
        tracing::info!(call = id, to = %Redacted(number.as_str()), %refusal, "pstn: outbound call refused");
        return Err(refusal.into());
    }
    let result = place(&inner, id, &trunk, &number, cancel).await;
    if result.is_err() {
        inner.rules().ended(id, Instant::now());
    }
    result
}

async fn place(
    inner: &Arc<Inner>,
    id: u64,
    trunk: &crate::TrunkConfig,
    number: &E164,
    cancel: CancellationToken,
) -> Result<PhoneCall, DialError> {
    let internal = |e: &dyn std::fmt::Display| DialError::Internal(e.to_string());
    let (socket, rtp_addr) = session::bind(trunk.media_ip)
        .await
        .map_err(|e| internal(&e))?;
    let local = LocalMedia {
        address: trunk.media_ip,
        port: rtp_addr.port(),
        session_id: rand::random::<u32>().into(),
    };
    let sip_addr = inner
        .sip_addrs
        .get(&trunk.name)
        .copied()
        .ok_or_else(|| internal(&"trunk not bound"))?;
    let user = trunk
        .username
        .clone()
        .unwrap_or_else(|| "phantomcall".into());
    let uri = |s: String| rsipstack::sip::Uri::try_from(s.as_str()).map_err(|e| internal(&e));
    let offered = srtp::offer(trunk.srtp);
    let sip_call_id = format!("{:032x}@phantomcall", rand::random::<u128>());
    let option = InviteOption {
        caller: uri(format!("sip:{user}@{}", trunk.from_domain))?,
        callee: uri(format!(
            "sip:{}@{}{}",
            number.as_str(),
            trunk.server,
            super::transport::uri_param(trunk.transport)
        ))?,
        contact: uri(format!("sip:{user}@{sip_addr}"))?,
        content_type: Some("application/sdp".into()),
        offer: Some(
            sdp::build_secure_offer(&local, &trunk.codecs, offered.as_ref().map(|o| &o.0))
                .into_bytes(),
        ),
        credential: trunk.username.clone().zip(trunk.password.clone()).map(
            |(username, password)| Credential {
                username,
                password,
                realm: None,
                auth_username: None,
            },
        ),
        call_id: Some(sip_call_id.clone()),
        ..Default::default()
    };
    let (events_tx, events) = mpsc::unbounded_channel();
    inner.routes().insert(sip_call_id.clone(), events_tx);
    let unroute = || {
        inner.routes().remove(&sip_call_id);
    };
    tracing::info!(call = id, to = %Redacted(number.as_str()), trunk = %trunk.name, "pstn: dialling");
    let (dialog, invite) = match inner
        .dialog_layer
        .do_invite_async(option, inner.state_sender.clone())
    {
        Ok(started) => started,
        Err(e) => {
            unroute();
            return Err(internal(&e));
        }
    };
    let timeout = Duration::from_secs(trunk.answer_timeout_secs);
    let answered = tokio::select! {
        answered = tokio::time::timeout(timeout, invite) => answered,
        _ = cancel.cancelled() => {
            let _ = dialog.cancel().await;
            unroute();
            tracing::info!(call = id, "pstn: outbound call cancelled by the caller");
            return Err(DialError::Cancelled);
        }
    };
    let response = match answered {
        Ok(Ok(Ok((_, response)))) => response,
        Ok(Ok(Err(e))) => {
            unroute();
            tracing::info!(call = id, error = %e, "pstn: INVITE failed");
            // rsipstack reports an unanswered INVITE (Timer B) as an error.
            return Err(DialError::Timeout);
        }
        Ok(Err(join)) => {
            unroute();
            return Err(internal(&join));
        }
        Err(_) => {
            let _ = dialog.cancel().await;
            unroute();
            return Err(DialError::Timeout);
        }
    };
    let Some(response) = response else {
        unroute();
        return Err(DialError::Timeout);
    };
    // Whether the request carried credentials (i.e. a challenge was answered).
    let challenged = dialog.initial_request().headers.iter().any(|h| {
        matches!(
            h,
            rsipstack::sip::Header::Authorization(_)
                | rsipstack::sip::Header::ProxyAuthorization(_)
        )
    });
    if response.status_code.kind() != rsipstack::sip::StatusCodeKind::Successful {
        unroute();
        inner.dialog_layer.remove_dialog(&dialog.id());
        let err = status_error(&response.status_code, challenged);
        tracing::info!(call = id, status = %response.status_code, "pstn: outbound call not answered");
        return Err(err);
    }
    // The answer's codec and, if we offered a key, the trunk's: under `required` an answer
    // without one ends the call (BYE) rather than carrying plain RTP.
    let agreed = sdp::parse(&response.body).and_then(|a| {
        let opus_first = trunk.opus == crate::config::OpusMode::Prefer;
        let negotiated = a.negotiate_with(&trunk.codecs, opus_first)?;
        let remote = match &offered {
            Some(_) => srtp::pick(trunk.srtp, &a)?,
            None => srtp::pick(crate::config::SrtpMode::Off, &a)?,
        };
        Ok((negotiated, remote))
    });
    let secured = agreed.and_then(|(negotiated, remote)| match (offered, remote) {
        (Some((crypto, local)), Some(remote)) => SrtpSession::new(&SrtpKeys { local, remote })
            .map(|session| (negotiated, Some(crypto), Some(session)))
            .map_err(|_| sdp::SdpError::NoUsableCrypto),
        _ => Ok((negotiated, None, None)),
    });
    let (negotiated, crypto, srtp_session) = match secured {
        Ok(n) => n,
        Err(e) => {
            let _ = dialog.bye().await;
            unroute();
            inner.dialog_layer.remove_dialog(&dialog.id());
            return Err(DialError::BadAnswer(e.to_string()));
        }
    };
    let _ = response.to_header();
    inner.rules().answered(id, Instant::now());
    inner.stats.outbound_calls.fetch_add(1, Ordering::Relaxed);
    if negotiated.codec == sdp::Codec::Opus {
        inner.stats.opus_calls.fetch_add(1, Ordering::Relaxed);
    }
    let (rule_tx, rule_events) = mpsc::unbounded_channel();
    inner.rule_routes().insert(id, rule_tx);
    let info = CallInfo {
        id,
        direction: Direction::Outbound,
        remote_number: number.as_str().to_string(),
        did: None,
        target: None,
        trunk: trunk.name.clone(),
        codec: negotiated.codec,
    };
    let (call, ends) = driver::new_call(info.clone());
    let leg = Leg {
        inner: inner.clone(),
        info,
        dialog,
        sip_call_id,
        events,
        rule_events: Some(rule_events),
        socket,
        local,
        negotiated,
        crypto,
        srtp: srtp_session,
        answered: true,
        codecs: trunk.codecs.clone(),
        media_timeout: Duration::from_secs(trunk.media_timeout_secs),
    };
    tokio::spawn(driver::drive(leg, ends));
    Ok(call)
}
