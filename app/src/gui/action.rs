//! What a screen asks for. Screens draw a view model and push [`Action`]s; the controller
//! applies them after the frame's drawing ([`super::controller`]), so no screen reaches
//! into the app, the engine or the backend.

use calling::{ScreenTarget, VideoQuality};
use nostr_signal::PublicKey;
use phantomcall_schemas::{CallId, CallType, PrivacyMode};

use super::backend::IdentityJob;
use super::contacts::AutoDelete;
use super::settings::{DeviceChoice, Settings};
use super::state::Tab;

/// One thing the user asked for.
#[derive(Debug)]
pub enum Action {
    /// Show another section.
    SelectTab(Tab),
    /// Close the error banner.
    DismissError,
    /// A problem found by the screen itself (a form), for the banner.
    ShowError(String),
    /// Create, import or unlock the key, with the spinner's words.
    Identity {
        /// The job.
        job: IdentityJob,
        /// What the spinner says.
        what: &'static str,
    },
    /// Leave the welcome screen.
    Continue,
    /// Add a contact by npub, nprofile, hex key or NIP-05 name.
    AddContact {
        /// Name to show.
        name: String,
        /// What the user typed.
        address: String,
        /// Its default mode.
        mode: PrivacyMode,
    },
    /// Change the contact at `index`.
    EditContact {
        /// Its place in the contact book.
        index: usize,
        /// Its default mode.
        mode: PrivacyMode,
        /// Its call-log auto-delete.
        auto_delete: AutoDelete,
    },
    /// Call a telephone number through the phone gateway of the settings.
    DialPhone {
        /// E.164.
        number: String,
    },
    /// Call someone.
    Dial {
        /// Whom.
        peer: PublicKey,
        /// Voice or video.
        call_type: CallType,
    },
    /// Show the conversation with these people (hex keys), started if new.
    OpenConversation(Vec<String>),
    /// Send a message to the people of a conversation (hex keys).
    SendMessage {
        /// The conversation's members.
        members: Vec<String>,
        /// What the user wrote.
        text: String,
    },
    /// Send our message again (it failed).
    RetryMessage(u64),
    /// Call several people together (a group call).
    DialGroup {
        /// Whom.
        peers: Vec<PublicKey>,
        /// Voice or video.
        call_type: CallType,
    },
    /// Invite someone into a group call we are in.
    InviteToGroup(CallId, PublicKey),
    /// Demo: the demo contact calls us.
    DemoRingMe,
    /// Answer a ringing call.
    Accept {
        /// The call.
        call: CallId,
        /// With our camera.
        video: bool,
    },
    /// Decline a ringing call.
    Decline(CallId),
    /// Hang up.
    Hangup(CallId),
    /// Mute or unmute our microphone.
    SetMuted(CallId, bool),
    /// Press a keypad key (DTMF) on a phone call.
    Keypad(CallId, char),
    /// Echo cancellation and noise suppression on our microphone, on or off for a call.
    SetVoiceProcessing(CallId, bool),
    /// Turn our camera off (black frames) or on.
    SetCameraOff(CallId, bool),
    /// Emergency "Audio only" on (camera off, no video sent) or off.
    AudioOnly(CallId, bool),
    /// How much video we send.
    SetVideoQuality(CallId, VideoQuality),
    /// Close the summary of the call that ended.
    CloseEnded,
    /// Open the screen-share picker of a call.
    OpenScreenPicker(CallId),
    /// Close the picker without sharing.
    CloseScreenPicker,
    /// Share a screen or window in a call.
    ShareScreen(CallId, ScreenTarget),
    /// Stop our screen share.
    StopScreenShare(CallId),
    /// Lobby: play the test tone.
    TestSpeaker,
    /// Lobby: the mode whose impact is shown.
    SetLobbyMode(PrivacyMode),
    /// Lobby: the mode of the next call only (`None`: the contact's).
    SetNextCallMode(Option<PrivacyMode>),
    /// Pick devices (saved; used by the next call).
    ChooseDevices(DeviceChoice),
    /// Save edited settings and reconnect.
    SaveSettings(Settings),
    /// Forget the call log.
    ClearLog,
    /// Dispatcher mode: something for the hotline.
    Console(super::console::ConsoleAction),
    /// Join a conference room by its invite link.
    JoinConference(String),
    /// Something for the conference we are in (mute, host controls, leave).
    Conference(calling::conference::ConferenceCommand),
    /// Back to the join form after a conference ended.
    CloseConference,
    /// Import (and seal) the wallet whose secret was pasted.
    ImportWallet(super::hosting::WalletSecret),
    /// Sign in to this conference service with the wallet and create a room.
    CreateRoom(String),
    /// Join the room just created, as its host.
    JoinHostedRoom,
    /// From the lobby: join the room chosen.
    ConfirmConferenceJoin,
    /// From the lobby: do not join the room chosen.
    CancelConferenceJoin,
}
