//! [`PhoneCall`]: one phone leg as the bridge sees it, channels only.

use std::fmt;

use tokio::sync::{mpsc, oneshot, watch};

use crate::number::Redacted;
use crate::rtp::PhoneFrame;

/// Who placed the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A phone called one of our DIDs.
    Inbound,
    /// A PhantomCall user dialled a phone number.
    Outbound,
}

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// We hung up ([`PhoneCall::hang_up`]).
    HungUp,
    /// The phone side hung up (BYE).
    RemoteHungUp,
    /// The caller gave up before we answered (CANCEL).
    Cancelled,
    /// The user's credit ran out (the caller was warned first by [`CallNotice::LowCredit`]).
    CreditExhausted,
    /// No RTP from the phone side for the trunk's `media_timeout_secs` while the call was
    /// neither on hold nor ended: the carrier is gone without a BYE (ended with BYE, so
    /// nobody keeps paying for a dead line).
    MediaTimeout,
    /// Signalling failed (transaction timeout, transport error).
    Failed(String),
}

/// Something the user should be told during a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallNotice {
    /// The credit lasts only this much longer; the call will be cut at zero.
    LowCredit {
        /// Seconds left.
        seconds_left: u64,
    },
}

/// Errors of a call's controls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The call has ended.
    #[error("the call has ended")]
    Ended,
    /// Not a DTMF key (0-9 * # A-D).
    #[error("not a DTMF key: {0:?}")]
    NotAKey(char),
    /// The phone side did not offer RFC 4733 telephone-events.
    #[error("the phone side does not accept DTMF events")]
    NoDtmf,
    /// Only an inbound call that is not answered yet can be answered.
    #[error("the call cannot be answered now")]
    NotAnswerable,
    /// The SIP stack refused to send.
    #[error("SIP: {0}")]
    Sip(String),
}

/// What a call's driver task is asked to do.
pub(crate) enum Control {
    EarlyMedia(oneshot::Sender<Result<(), CallError>>),
    Answer(oneshot::Sender<Result<(), CallError>>),
    HangUp(oneshot::Sender<()>),
}

/// Who and what a call is. `Debug` shows numbers redacted.
#[derive(Clone)]
pub struct CallInfo {
    /// Gateway-local call id (also the rules' call id).
    pub id: u64,
    /// Inbound or outbound.
    pub direction: Direction,
    /// The phone's number as the trunk gave it (inbound: the caller; outbound: the
    /// dialled E.164). Never log it: use [`Redacted`].
    pub remote_number: String,
    /// Inbound: the DID that was called.
    pub did: Option<String>,
    /// Inbound: the DID's target from the configuration (hotline id or npub, opaque).
    pub target: Option<String>,
    /// The trunk's name.
    pub trunk: String,
    /// The SIP leg's codec as negotiated with the trunk (G.711 or Opus).
    pub codec: crate::sdp::Codec,
}

impl fmt::Debug for CallInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallInfo")
            .field("id", &self.id)
            .field("direction", &self.direction)
            .field("remote_number", &Redacted(&self.remote_number).to_string())
            .field("did", &self.did.as_deref().map(|d| Redacted(d).to_string()))
            .field("trunk", &self.trunk)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

/// One phone leg. Audio is 20 ms frames of 160 samples at 8 kHz, both ways.
///
/// The phone leg is not end-to-end encrypted: whoever shows this call must say so.
pub struct PhoneCall {
    pub(crate) info: CallInfo,
    pub(crate) from_phone: mpsc::Receiver<PhoneFrame>,
    pub(crate) to_phone: mpsc::Sender<PhoneFrame>,
    pub(crate) keys_from_phone: mpsc::Receiver<char>,
    pub(crate) keys_to_phone: mpsc::Sender<char>,
    pub(crate) dtmf_supported: watch::Receiver<bool>,
    pub(crate) control: mpsc::Sender<Control>,
    pub(crate) ended: watch::Receiver<Option<EndReason>>,
    pub(crate) notices: mpsc::Receiver<CallNotice>,
}

impl fmt::Debug for PhoneCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneCall")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl PhoneCall {
    /// Who and what the call is.
    pub fn info(&self) -> &CallInfo {
        &self.info
    }

    /// Decoded audio from the phone after the jitter buffer: one frame every 20 ms while
    /// media runs, silence when nothing arrived (none before an inbound call is answered).
    pub fn audio_from_phone(&mut self) -> &mut mpsc::Receiver<PhoneFrame> {
        &mut self.from_phone
    }

    /// Where to put audio for the phone: one frame per 20 ms, paced by the sender
    /// (frames are encoded and sent as they arrive). Frames before media starts are dropped.
    pub fn audio_to_phone(&self) -> mpsc::Sender<PhoneFrame> {
        self.to_phone.clone()
    }

    /// Keys pressed on the phone (RFC 4733), one per press.
    pub fn dtmf_from_phone(&mut self) -> &mut mpsc::Receiver<char> {
        &mut self.keys_from_phone
    }

    /// Sends a key to the phone as RFC 4733 events (100 ms, end packet sent 3 times).
    pub fn send_dtmf(&self, key: char) -> Result<(), CallError> {
        send_key(&self.keys_to_phone, &self.dtmf_supported, &self.ended, key)
    }

    /// Answers an inbound call (200 OK with our SDP answer); media starts.
    pub async fn answer(&self) -> Result<(), CallError> {
        request(&self.control, Control::Answer).await
    }

    /// Starts media on an inbound call before answering it (183 Session Progress with
    /// our SDP): for announcements or queue tones the caller hears unbilled by the carrier.
    /// [`PhoneCall::answer`] still has to follow.
    pub async fn early_media(&self) -> Result<(), CallError> {
        request(&self.control, Control::EarlyMedia).await
    }

    /// Ends the call: BYE when established, CANCEL when still ringing out, 603 Decline
    /// when an inbound call was not answered. Returns once the request is sent.
    pub async fn hang_up(&self) {
        hang_up(&self.control).await
    }

    /// `None` while the call runs, then why it ended. Await `changed()` to be told.
    pub fn ended(&self) -> watch::Receiver<Option<EndReason>> {
        self.ended.clone()
    }

    /// Notices for the user during the call (low credit).
    pub fn notices(&mut self) -> &mut mpsc::Receiver<CallNotice> {
        &mut self.notices
    }

    /// Splits the call into its media channels (to hand to the bridge's devices, which own
    /// their receivers) and the controls. Dropping the [`PhoneControl`] hangs up.
    pub fn into_parts(self) -> (PhoneMedia, PhoneControl) {
        let media = PhoneMedia {
            from_phone: self.from_phone,
            to_phone: self.to_phone.clone(),
            keys_from_phone: self.keys_from_phone,
            keys_to_phone: self.keys_to_phone.clone(),
        };
        let control = PhoneControl {
            info: self.info,
            keys_to_phone: self.keys_to_phone,
            dtmf_supported: self.dtmf_supported,
            control: self.control,
            ended: self.ended,
            notices: self.notices,
        };
        (media, control)
    }
}

/// A call's media channels, owned (see [`PhoneCall::into_parts`]). Same contract as the
/// [`PhoneCall`] accessors: 20 ms frames of 160 samples at 8 kHz; keys are 0-9 * # A-D
/// (anything else sent on `keys_to_phone` is ignored).
#[derive(Debug)]
pub struct PhoneMedia {
    /// Decoded audio from the phone, one frame per 20 ms.
    pub from_phone: mpsc::Receiver<PhoneFrame>,
    /// Audio for the phone, paced by the sender.
    pub to_phone: mpsc::Sender<PhoneFrame>,
    /// Keys pressed on the phone.
    pub keys_from_phone: mpsc::Receiver<char>,
    /// Keys to send to the phone.
    pub keys_to_phone: mpsc::Sender<char>,
}

#[cfg(feature = "bridge")]
impl From<PhoneMedia> for crate::bridge::PhoneAudio {
    fn from(media: PhoneMedia) -> Self {
        crate::bridge::PhoneAudio {
            from_phone: media.from_phone,
            to_phone: media.to_phone,
            keys_from_phone: Some(media.keys_from_phone),
            keys_to_phone: Some(media.keys_to_phone),
        }
    }
}

/// A call's controls once its media is handed elsewhere ([`PhoneCall::into_parts`]).
pub struct PhoneControl {
    info: CallInfo,
    keys_to_phone: mpsc::Sender<char>,
    dtmf_supported: watch::Receiver<bool>,
    control: mpsc::Sender<Control>,
    ended: watch::Receiver<Option<EndReason>>,
    notices: mpsc::Receiver<CallNotice>,
}

impl fmt::Debug for PhoneControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneControl")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl PhoneControl {
    /// Who and what the call is.
    pub fn info(&self) -> &CallInfo {
        &self.info
    }

    /// As [`PhoneCall::send_dtmf`].
    pub fn send_dtmf(&self, key: char) -> Result<(), CallError> {
        send_key(&self.keys_to_phone, &self.dtmf_supported, &self.ended, key)
    }

    /// As [`PhoneCall::answer`].
    pub async fn answer(&self) -> Result<(), CallError> {
        request(&self.control, Control::Answer).await
    }

    /// As [`PhoneCall::early_media`].
    pub async fn early_media(&self) -> Result<(), CallError> {
        request(&self.control, Control::EarlyMedia).await
    }

    /// As [`PhoneCall::hang_up`].
    pub async fn hang_up(&self) {
        hang_up(&self.control).await
    }

    /// As [`PhoneCall::ended`].
    pub fn ended(&self) -> watch::Receiver<Option<EndReason>> {
        self.ended.clone()
    }

    /// As [`PhoneCall::notices`].
    pub fn notices(&mut self) -> &mut mpsc::Receiver<CallNotice> {
        &mut self.notices
    }
}

fn send_key(
    keys: &mpsc::Sender<char>,
    supported: &watch::Receiver<bool>,
    ended: &watch::Receiver<Option<EndReason>>,
    key: char,
) -> Result<(), CallError> {
    if crate::rtp::dtmf::event_of(key).is_none() {
        return Err(CallError::NotAKey(key));
    }
    if ended.borrow().is_some() {
        return Err(CallError::Ended);
    }
    if !*supported.borrow() {
        return Err(CallError::NoDtmf);
    }
    keys.try_send(key).map_err(|_| CallError::Ended)
}

async fn request(
    control: &mpsc::Sender<Control>,
    what: fn(oneshot::Sender<Result<(), CallError>>) -> Control,
) -> Result<(), CallError> {
    let (tx, rx) = oneshot::channel();
    control.send(what(tx)).await.map_err(|_| CallError::Ended)?;
    rx.await.map_err(|_| CallError::Ended)?
}

async fn hang_up(control: &mpsc::Sender<Control>) {
    let (tx, rx) = oneshot::channel();
    if control.send(Control::HangUp(tx)).await.is_ok() {
        let _ = rx.await;
    }
}
