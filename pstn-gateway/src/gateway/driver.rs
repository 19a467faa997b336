//! One task per call: it owns the dialog, starts the media when the call is answered,
//! answers re-INVITEs with the same media, and turns BYE/CANCEL, the bridge's controls
//! and the rules' cut-off into the call's end.
//!
//! Inputs: the call's [`Control`]s, its dialog events (routed by Call-ID), its rule
//! events. Each ends the loop or not; nothing here panics on an unexpected event, which
//! is logged and ignored.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rsipstack::dialog::dialog::{DialogState, TerminatedReason};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Header, Method, StatusCode};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::Inner;
use crate::call::{CallError, CallInfo, CallNotice, Control, Direction, EndReason, PhoneCall};
use crate::rtp::session::{self, MediaChannels, MediaStats, PhoneFrame};
use crate::rtp::srtp::SrtpSession;
use crate::rules::RuleEvent;
use crate::sdp::{self, LocalCrypto, LocalMedia, Negotiated};

/// Frames queued each way: 10 (200 ms) absorbs scheduling hiccups; more would be delay.
const AUDIO_QUEUE: usize = 10;

/// The gateway's ends of a new call's channels.
pub(crate) struct CallEnds {
    media: MediaChannels,
    dtmf_supported: watch::Sender<bool>,
    control: mpsc::Receiver<Control>,
    ended: watch::Sender<Option<EndReason>>,
    notices: mpsc::Sender<CallNotice>,
}

/// Creates a [`PhoneCall`] and the driver's ends of its channels.
pub(crate) fn new_call(info: CallInfo) -> (PhoneCall, CallEnds) {
    let (from_tx, from_rx) = mpsc::channel::<PhoneFrame>(AUDIO_QUEUE);
    let (to_tx, to_rx) = mpsc::channel::<PhoneFrame>(AUDIO_QUEUE);
    let (kf_tx, kf_rx) = mpsc::channel(32);
    let (kt_tx, kt_rx) = mpsc::channel(32);
    let (dtmf_tx, dtmf_rx) = watch::channel(false);
    let (control_tx, control_rx) = mpsc::channel(4);
    let (ended_tx, ended_rx) = watch::channel(None);
    let (notice_tx, notice_rx) = mpsc::channel(4);
    let call = PhoneCall {
        info,
        from_phone: from_rx,
        to_phone: to_tx,
        keys_from_phone: kf_rx,
        keys_to_phone: kt_tx,
        dtmf_supported: dtmf_rx,
        control: control_tx,
        ended: ended_rx,
        notices: notice_rx,
    };
    let ends = CallEnds {
        media: MediaChannels {
            from_phone: from_tx,
            to_phone: to_rx,
            keys_from_phone: kf_tx,
            keys_to_phone: kt_rx,
        },
        dtmf_supported: dtmf_tx,
        control: control_rx,
        ended: ended_tx,
        notices: notice_tx,
    };
    (call, ends)
}

/// Everything a driver needs.
pub(crate) struct Leg {
    pub(crate) inner: Arc<Inner>,
    pub(crate) info: CallInfo,
    pub(crate) dialog: InviteDialog,
    pub(crate) sip_call_id: String,
    pub(crate) events: mpsc::UnboundedReceiver<DialogState>,
    pub(crate) rule_events: Option<mpsc::UnboundedReceiver<RuleEvent>>,
    pub(crate) socket: UdpSocket,
    pub(crate) local: LocalMedia,
    pub(crate) negotiated: Negotiated,
    /// Our `a=crypto` line when the call uses SRTP (repeated in every answer we send).
    pub(crate) crypto: Option<LocalCrypto>,
    /// The call's SRTP contexts, `None` for plain RTP.
    pub(crate) srtp: Option<SrtpSession>,
    pub(crate) answered: bool,
    pub(crate) codecs: Vec<crate::sdp::Codec>,
    pub(crate) media_timeout: Duration,
}

/// What the media task is started with, once.
type MediaParts = (
    UdpSocket,
    watch::Receiver<Negotiated>,
    MediaChannels,
    Option<SrtpSession>,
);

fn sdp_headers() -> Vec<Header> {
    vec![Header::ContentType("application/sdp".into())]
}

/// Runs a call to its end.
pub(crate) async fn drive(leg: Leg, mut ends: CallEnds) {
    let Leg {
        inner,
        info,
        dialog,
        sip_call_id,
        mut events,
        mut rule_events,
        socket,
        local,
        negotiated,
        crypto,
        srtp,
        mut answered,
        codecs,
        media_timeout,
    } = leg;
    let crypto = crypto.as_ref();
    let answer = |agreed: &Negotiated, version: u64| {
        sdp::build_secure_answer(&local, agreed, version, crypto)
    };
    let _ = ends.dtmf_supported.send(negotiated.dtmf_pt.is_some());
    let (target_tx, target_rx) = watch::channel(negotiated);
    let stop = inner.cancel.child_token();
    let mut media = Some((socket, target_rx, ends.media, srtp));
    let mut sdp_version = 1u64;
    let mut early = false;
    // Fires if the carrier's RTP stops while the call is not on hold (see MediaTimeout).
    let (lost_tx, mut lost_rx) = oneshot::channel();
    let mut lost_tx = Some(lost_tx);
    let mut watching_media = true;
    let mut start_media = |media: &mut Option<MediaParts>, stop: &CancellationToken| {
        if let Some((socket, target, channels, srtp)) = media.take() {
            tokio::spawn(session::run_secure(
                socket,
                target,
                channels,
                Arc::new(MediaStats::default()),
                stop.clone(),
                session::Silence {
                    timeout: media_timeout,
                    lost: lost_tx.take(),
                },
                srtp,
            ));
        }
    };
    if answered {
        start_media(&mut media, &stop);
    }
    let reason = loop {
        tokio::select! {
            _ = inner.cancel.cancelled() => break EndReason::Failed("gateway shut down".into()),
            control = ends.control.recv() => match control {
                Some(Control::EarlyMedia(reply)) => {
                    if answered || early || info.direction != Direction::Inbound {
                        let _ = reply.send(Err(CallError::NotAnswerable));
                        continue;
                    }
                    // ringing() with a body sends 183 Session Progress.
                    let body = answer(&negotiated, sdp_version);
                    match dialog.ringing(Some(sdp_headers()), Some(body.into_bytes())) {
                        Ok(()) => {
                            early = true;
                            start_media(&mut media, &stop);
                            let _ = reply.send(Ok(()));
                        }
                        Err(e) => {
                            let _ = reply.send(Err(CallError::Sip(e.to_string())));
                        }
                    }
                }
                Some(Control::Answer(reply)) => {
                    if answered || info.direction != Direction::Inbound {
                        let _ = reply.send(Err(CallError::NotAnswerable));
                        continue;
                    }
                    let body = answer(&negotiated, sdp_version);
                    match dialog.accept(Some(sdp_headers()), Some(body.into_bytes())) {
                        Ok(()) => {
                            answered = true;
                            start_media(&mut media, &stop);
                            let _ = reply.send(Ok(()));
                        }
                        Err(e) => {
                            let _ = reply.send(Err(CallError::Sip(e.to_string())));
                            break EndReason::Failed(e.to_string());
                        }
                    }
                }
                Some(Control::HangUp(done)) => {
                    hang_up(&dialog, answered).await;
                    let _ = done.send(());
                    break EndReason::HungUp;
                }
                // The PhoneCall was dropped: nobody can hear this call any more.
                None => {
                    hang_up(&dialog, answered).await;
                    break EndReason::HungUp;
                }
            },
            event = events.recv() => match event {
                Some(DialogState::Terminated(_, why)) => break match why {
                    TerminatedReason::UacCancel => EndReason::Cancelled,
                    TerminatedReason::Timeout => EndReason::Failed("SIP transaction timeout".into()),
                    _ => EndReason::RemoteHungUp,
                },
                Some(DialogState::Updated(_, request, handle)) => {
                    // A re-INVITE or UPDATE (session refresh, hold, a moved media address):
                    // same codec, same port; a new remote address or direction is followed.
                    let is_invite = request.method == Method::Invite;
                    if request.body.is_empty() {
                        let body = is_invite.then(|| {
                            sdp_version += 1;
                            answer(&target_tx.borrow(), sdp_version).into_bytes()
                        });
                        let headers = body.as_ref().map(|_| sdp_headers());
                        let _ = handle.respond(StatusCode::OK, headers, body).await;
                        continue;
                    }
                    // An SRTP call stays SRTP: a re-offer without a usable key is refused
                    // (the keys of the first offer stay in use; rekeying is not supported).
                    let reoffer = sdp::parse(&request.body).and_then(|o| {
                        if crypto.is_some() {
                            crate::rtp::srtp::pick(crate::config::SrtpMode::Required, &o)?;
                        }
                        o.negotiate(&codecs)
                    });
                    match reoffer {
                        Ok(mut agreed) => {
                            let current = *target_tx.borrow();
                            // Keep the established codec: switching mid-call is not needed by trunks.
                            agreed.codec = current.codec;
                            agreed.codec_pt = current.codec_pt;
                            let _ = target_tx.send(agreed);
                            sdp_version += 1;
                            let body = answer(&agreed, sdp_version);
                            let _ = handle.respond(StatusCode::OK, Some(sdp_headers()), Some(body.into_bytes())).await;
                        }
                        Err(e) => {
                            tracing::info!(call = info.id, error = %e, "pstn: re-INVITE refused");
                            let _ = handle.reply(StatusCode::NotAcceptableHere).await;
                        }
                    }
                }
                Some(DialogState::Info(_, _, handle)) | Some(DialogState::Options(_, _, handle)) => {
                    let _ = handle.reply(StatusCode::OK).await;
                }
                Some(DialogState::Notify(_, _, handle)) | Some(DialogState::Message(_, _, handle)) | Some(DialogState::Refer(_, _, handle)) => {
                    let _ = handle.reply(StatusCode::NotImplemented).await;
                }
                Some(_) => {}
                None => break EndReason::Failed("dialog events closed".into()),
            },
            lost = &mut lost_rx, if watching_media => {
                watching_media = false;
                // An error only means the media task ended first (the call is ending).
                if lost.is_ok() {
                    tracing::info!(call = info.id, "pstn: no audio from the phone side: ended");
                    hang_up(&dialog, answered).await;
                    break EndReason::MediaTimeout;
                }
            }
            rule = recv_rule(&mut rule_events) => match rule {
                RuleEvent::CutOff { .. } => {
                    hang_up(&dialog, answered).await;
                    break EndReason::CreditExhausted;
                }
                RuleEvent::LowCredit { seconds_left, .. } => {
                    let _ = ends.notices.try_send(CallNotice::LowCredit { seconds_left });
                }
            },
        }
    };
    stop.cancel();
    inner.routes().remove(&sip_call_id);
    inner.rule_routes().remove(&info.id);
    inner.dialog_layer.remove_dialog(&dialog.id());
    if info.direction == Direction::Outbound {
        inner.rules().ended(info.id, Instant::now());
    }
    tracing::info!(call = info.id, trunk = %info.trunk, ?reason, "pstn: call ended");
    let _ = ends.ended.send(Some(reason));
}

async fn recv_rule(rx: &mut Option<mpsc::UnboundedReceiver<RuleEvent>>) -> RuleEvent {
    match rx {
        Some(rx) => match rx.recv().await {
            Some(event) => event,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// How long a hang-up waits for the far end's response: a vanished carrier would
/// otherwise hold the call (and its charge) for the whole transaction timeout (32 s).
const HANG_UP_WAIT: Duration = Duration::from_secs(2);

async fn hang_up(dialog: &InviteDialog, answered: bool) {
    let result = if answered {
        match tokio::time::timeout(HANG_UP_WAIT, dialog.bye()).await {
            Ok(result) => result,
            Err(_) => {
                tracing::debug!("pstn: no answer to BYE; the call ends anyway");
                Ok(())
            }
        }
    } else if dialog.role() == rsipstack::transaction::key::TransactionRole::Server {
        dialog.reject(Some(StatusCode::Decline), None)
    } else {
        dialog.cancel().await
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "pstn: hang-up request failed");
    }
}
