//! Inbound SIP MESSAGE (RFC 3428) from a trunk: an SMS carried over SIP. It passes the same
//! source allow-list and digest challenge as an INVITE, is read by
//! [`crate::sms::sip_message`], and then takes the same path as a webhook message (the
//! [`crate::sms::Intake`] set with [`crate::Gateway::set_sms_intake`]). Without an intake
//! the gateway answers 405, as before.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use rsipstack::sip::{Header, HeadersExt, StatusCode};
use rsipstack::transaction::Transaction;

use super::inbound::{check_auth, source_trunk, user_part};
use super::Inner;
use crate::sms::sip_message::{self, SipRequest};
use crate::sms::Taken;

pub(super) async fn message(inner: &Arc<Inner>, mut tx: Transaction) -> rsipstack::Result<()> {
    let Some(intake) = inner.sms_intake.get().cloned() else {
        return tx.reply(StatusCode::MethodNotAllowed).await;
    };
    let Some(trunk) = source_trunk(inner, &tx) else {
        inner.stats.blocked_sources.fetch_add(1, Ordering::Relaxed);
        tracing::info!("pstn: MESSAGE from an address outside every allow-list dropped");
        return Ok(());
    };
    if let Err((status, header)) = check_auth(inner, trunk, &tx) {
        return tx
            .reply_with(status, header.into_iter().collect(), None)
            .await;
    }
    let request = &tx.original;
    let to_user = user_part(&request.uri).unwrap_or_default();
    let from_user = request
        .from_header()
        .ok()
        .and_then(|f| f.uri().ok())
        .and_then(|u| user_part(&u))
        .unwrap_or_default();
    let call_id = request
        .call_id_header()
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    let cseq = request
        .cseq_header()
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    let content_type = request.headers.iter().find_map(|h| match h {
        Header::ContentType(c) => Some(c.value().to_string()),
        _ => None,
    });
    let parsed = sip_message::parse(&SipRequest {
        from_user: &from_user,
        to_user: &to_user,
        call_id: &call_id,
        cseq: &cseq,
        content_type: content_type.as_deref(),
        body: &request.body,
    });
    let status = match parsed {
        Err(e) => {
            tracing::info!(error = %e, trunk = %trunk.name, "pstn: MESSAGE refused");
            StatusCode::from(e.status())
        }
        Ok(m) => match intake.take(m) {
            Taken::Retry => StatusCode::ServiceUnavailable,
            Taken::Help(_) => {
                // Answering needs an outbound MESSAGE toward the trunk, not built yet.
                tracing::info!(trunk = %trunk.name, "pstn: HELP over SIP MESSAGE not answered");
                StatusCode::OK
            }
            Taken::Forwarded | Taken::OptChanged | Taken::Dropped => StatusCode::OK,
        },
    };
    tx.reply(status).await
}
