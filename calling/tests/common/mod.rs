//! A simulated network of call engines: people with one or more devices, each device a
//! `CallEngineCore`, messages routed as the relay transport routes them (to every device
//! of the recipient, and a copy to every device of the sender, the sender itself
//! included), a simulated media engine that answers `CreateOffer`/`CreateAnswer` at once,
//! and virtual time advanced explicitly.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use calling::{
    CallEngineCore, CallEvent, CallState, Dropped, EndReason, EngineConfig, Incoming, Input,
    Output, Reason,
};
use nostr_signal::{Identity, PublicKey};
use phantomcall_schemas::{
    CallBody, CallId, CallKind, CallMessage, CallType, DeviceId, IceCandidate, PrivacyMode,
};

/// Index of a device in [`Net::devices`].
pub type Dev = usize;

/// A minimal SDP that passes the engine's structural check; `tag` tells them apart.
pub fn sdp(tag: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns={tag}\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    )
}

/// A relay candidate with a distinguishable port.
pub fn candidate(port: u16) -> IceCandidate {
    IceCandidate {
        candidate: format!("candidate:1 1 udp 1 192.0.2.1 {port} typ relay"),
        sdp_mid: Some("0".into()),
        sdp_mline_index: Some(0),
    }
}

/// A call id with a chosen order (glare tests).
pub fn call_id(n: u128) -> CallId {
    CallId::from(uuid::Uuid::from_u128(n))
}

pub struct Device {
    pub name: String,
    pub key: PublicKey,
    pub device: DeviceId,
    pub core: CallEngineCore,
    /// Messages to an offline device are lost.
    pub online: bool,
    /// Whether the simulated media engine answers CreateOffer / CreateAnswer at once.
    pub auto_sdp: bool,
    /// Every output, in order.
    pub outputs: Vec<Output>,
}

pub struct Net {
    pub now: Instant,
    pub devices: Vec<Device>,
    queue: VecDeque<(Dev, Input)>,
    /// While true, messages wait in `held` until released.
    pub hold: bool,
    held: VecDeque<(Dev, Incoming)>,
    ring_timeout: Option<Duration>,
}

impl Default for Net {
    fn default() -> Self {
        Self::new()
    }
}

impl Net {
    pub fn new() -> Self {
        Self {
            now: Instant::now(),
            devices: Vec::new(),
            queue: VecDeque::new(),
            hold: false,
            held: VecDeque::new(),
            ring_timeout: None,
        }
    }

    /// Ring timeout for devices added from now on (default: the engine's).
    pub fn with_ring_timeout(mut self, timeout: Duration) -> Self {
        self.ring_timeout = Some(timeout);
        self
    }

    /// A person with `devices` devices (named `name`, `name2`, ...). Everybody in the net
    /// is everybody's contact.
    pub fn person(&mut self, name: &str, devices: usize) -> Vec<Dev> {
        self.person_with(name, devices, |_| {})
    }

    /// [`Net::person`] with last changes to each device's engine settings.
    pub fn person_with(
        &mut self,
        name: &str,
        devices: usize,
        configure: impl Fn(&mut EngineConfig),
    ) -> Vec<Dev> {
        let key = Identity::generate().public_key();
        let mut added = Vec::new();
        for i in 0..devices {
            let device = DeviceId::new_random();
            let mut config = EngineConfig::new(key, device.clone());
            if let Some(t) = self.ring_timeout {
                config.ring_timeout = t;
            }
            config.contacts = self.devices.iter().map(|d| d.key).collect();
            // Contacts may call in any mode here; the mode floor has its own tests.
            config.default_mode = PrivacyMode::Fast;
            configure(&mut config);
            let name = if i == 0 {
                name.to_owned()
            } else {
                format!("{name}{}", i + 1)
            };
            self.devices.push(Device {
                name,
                key,
                device,
                core: CallEngineCore::new(config),
                online: true,
                auto_sdp: true,
                outputs: Vec::new(),
            });
            added.push(self.devices.len() - 1);
        }
        for d in &mut self.devices {
            if d.key != key {
                d.core.contacts_mut().insert(key);
            }
        }
        added
    }

    pub fn key(&self, dev: Dev) -> PublicKey {
        self.devices[dev].key
    }

    pub fn device_id(&self, dev: Dev) -> DeviceId {
        self.devices[dev].device.clone()
    }

    // --- driving ---------------------------------------------------------------------

    /// Feeds `input` to `dev` now, then lets the network settle.
    pub fn input(&mut self, dev: Dev, input: Input) {
        self.queue.push_back((dev, input));
        self.settle();
    }

    /// `dev` dials the person of `to` and the network settles.
    pub fn dial(&mut self, dev: Dev, to: Dev, call_type: CallType) -> CallId {
        self.dial_with(
            dev,
            to,
            call_type,
            PrivacyMode::Private,
            CallId::new_random(),
        )
    }

    pub fn dial_with(
        &mut self,
        dev: Dev,
        to: Dev,
        call_type: CallType,
        mode: PrivacyMode,
        id: CallId,
    ) -> CallId {
        let peer = self.key(to);
        self.input(
            dev,
            Input::Dial {
                call_id: id,
                peer,
                call_type,
                mode,
            },
        );
        id
    }

    pub fn accept(&mut self, dev: Dev, call: CallId) {
        self.input(
            dev,
            Input::Accept {
                call_id: call,
                with_video: true,
            },
        );
    }

    pub fn hangup(&mut self, dev: Dev, call: CallId) {
        self.input(dev, Input::Hangup { call_id: call });
    }

    pub fn decline(&mut self, dev: Dev, call: CallId) {
        self.input(dev, Input::Decline { call_id: call });
    }

    pub fn media_connected(&mut self, devs: &[Dev], call: CallId) {
        for &d in devs {
            self.input(d, Input::MediaConnected { call_id: call });
        }
    }

    /// Delivers `message` to `dev` as if `sender` had sent it.
    pub fn inject(&mut self, dev: Dev, sender: PublicKey, message: CallMessage) {
        let from_own_device = sender == self.devices[dev].key;
        self.input(
            dev,
            Input::Signal(Incoming {
                sender,
                from_own_device,
                message,
                via: nostr_signal::Via::link(nostr_signal::LinkKind::Relays),
            }),
        );
    }

    /// Runs queued inputs and routes outputs until nothing moves (held messages wait).
    pub fn settle(&mut self) {
        loop {
            for dev in 0..self.devices.len() {
                self.collect(dev);
            }
            let Some((dev, input)) = self.queue.pop_front() else {
                break;
            };
            let now = self.now;
            self.devices[dev].core.handle(input, now);
        }
    }

    /// Delivers every held message (in order) and settles; later messages are held again
    /// only if `hold` is still set.
    pub fn release(&mut self) {
        self.release_where(|_, _| true);
    }

    /// Delivers the held messages that match `pred`, in order, and settles.
    pub fn release_where(&mut self, mut pred: impl FnMut(Dev, &Incoming) -> bool) {
        let held = std::mem::take(&mut self.held);
        for (dev, m) in held {
            if pred(dev, &m) {
                self.queue.push_back((dev, Input::Signal(m)));
            } else {
                self.held.push_back((dev, m));
            }
        }
        self.settle();
    }

    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Advances virtual time by `by`, firing every timer on the way in order.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        loop {
            let next = self
                .devices
                .iter()
                .filter_map(|d| d.core.next_timeout())
                .filter(|t| *t <= target)
                .min();
            let Some(next) = next else { break };
            self.now = self.now.max(next);
            for dev in 0..self.devices.len() {
                if self.devices[dev]
                    .core
                    .next_timeout()
                    .is_some_and(|t| t <= self.now)
                {
                    self.input(dev, Input::Tick);
                }
            }
        }
        self.now = target;
    }

    fn collect(&mut self, dev: Dev) {
        let outputs = self.devices[dev].core.drain_outputs();
        for output in outputs {
            match &output {
                Output::Send { to, message, .. } => self.route(dev, *to, message),
                Output::CreateOffer { call_id, .. } if self.devices[dev].auto_sdp => {
                    let sdp = sdp(&format!("offer-{}", self.devices[dev].name));
                    self.queue.push_back((
                        dev,
                        Input::LocalOffer {
                            call_id: *call_id,
                            sdp,
                        },
                    ));
                }
                Output::CreateAnswer { call_id, .. } if self.devices[dev].auto_sdp => {
                    let sdp = sdp(&format!("answer-{}", self.devices[dev].name));
                    self.queue.push_back((
                        dev,
                        Input::LocalAnswer {
                            call_id: *call_id,
                            sdp,
                        },
                    ));
                }
                Output::ApplyRenegotiation { call_id, .. } if self.devices[dev].auto_sdp => {
                    let sdp = sdp(&format!("restart-answer-{}", self.devices[dev].name));
                    self.queue.push_back((
                        dev,
                        Input::LocalRenegotiationAnswer {
                            call_id: *call_id,
                            sdp,
                        },
                    ));
                }
                _ => {}
            }
            self.devices[dev].outputs.push(output);
        }
    }

    /// As the relay transport does: to every device of `to`, and a copy to every device
    /// of the sender (the sending device included: relays echo).
    fn route(&mut self, from: Dev, to: PublicKey, message: &CallMessage) {
        let sender = self.devices[from].key;
        assert_eq!(message.peer, to.to_hex(), "p tag names the recipient");
        for dev in 0..self.devices.len() {
            let d = &self.devices[dev];
            if !d.online || (d.key != to && d.key != sender) {
                continue;
            }
            let incoming = Incoming {
                sender,
                from_own_device: d.key == sender,
                message: message.clone(),
                via: nostr_signal::Via::link(nostr_signal::LinkKind::Relays),
            };
            if self.hold {
                self.held.push_back((dev, incoming));
            } else {
                self.queue.push_back((dev, Input::Signal(incoming)));
            }
        }
    }

    // --- looking ---------------------------------------------------------------------

    pub fn outputs(&self, dev: Dev) -> &[Output] {
        &self.devices[dev].outputs
    }

    pub fn clear_outputs(&mut self) {
        for d in &mut self.devices {
            d.outputs.clear();
        }
    }

    pub fn events(&self, dev: Dev) -> Vec<CallEvent> {
        self.outputs(dev)
            .iter()
            .filter_map(|o| match o {
                Output::Event(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    /// `(state, reason)` of every event of `call` on `dev`.
    pub fn history(&self, dev: Dev, call: CallId) -> Vec<(CallState, Reason)> {
        self.events(dev)
            .into_iter()
            .filter(|e| e.call_id == call)
            .map(|e| (e.state, e.reason))
            .collect()
    }

    pub fn last_event(&self, dev: Dev, call: CallId) -> CallEvent {
        self.events(dev)
            .into_iter()
            .rfind(|e| e.call_id == call)
            .unwrap_or_else(|| panic!("{} has no event for the call", self.devices[dev].name))
    }

    pub fn state(&self, dev: Dev, call: CallId) -> Option<CallState> {
        self.devices[dev].core.call(&call).map(|c| c.state)
    }

    pub fn end_reason(&self, dev: Dev, call: CallId) -> Option<EndReason> {
        self.devices[dev]
            .core
            .call(&call)
            .and_then(|c| c.end_reason)
    }

    /// Every message `dev` sent.
    pub fn sent(&self, dev: Dev) -> Vec<CallMessage> {
        self.outputs(dev)
            .iter()
            .filter_map(|o| match o {
                Output::Send { message, .. } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }

    /// Kinds of the messages `dev` sent about `call`.
    pub fn sent_kinds(&self, dev: Dev, call: CallId) -> Vec<CallKind> {
        self.sent(dev)
            .iter()
            .filter(|m| m.call_id == call)
            .map(CallMessage::kind)
            .collect()
    }

    pub fn drops(&self, dev: Dev) -> Vec<Dropped> {
        self.outputs(dev)
            .iter()
            .filter_map(|o| match o {
                Output::Dropped(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }

    /// Whether `dev` was told to stop media for `call`.
    pub fn stopped_media(&self, dev: Dev, call: CallId) -> bool {
        self.outputs(dev)
            .iter()
            .any(|o| matches!(o, Output::StopMedia { call_id } if *call_id == call))
    }

    /// Whether `dev` was asked to create an answer (i.e. start media) for `call`.
    pub fn created_answer(&self, dev: Dev, call: CallId) -> bool {
        self.outputs(dev)
            .iter()
            .any(|o| matches!(o, Output::CreateAnswer { call_id, .. } if *call_id == call))
    }

    /// The call that rings (or is otherwise live) on `dev`.
    pub fn live_call(&self, dev: Dev) -> Option<CallId> {
        self.devices[dev].core.live_call().map(|c| c.call_id)
    }
}

/// A message as `from` would send it about `call` to the person of `to`.
pub fn message(net: &Net, from: Dev, to: Dev, call: CallId, body: CallBody) -> CallMessage {
    CallMessage {
        phone: None,
        call_id: call,
        peer: net.key(to).to_hex(),
        also_to: Vec::new(),
        pq_share: None,
        mode: Some(PrivacyMode::Private),
        device: Some(net.device_id(from)),
        body,
    }
}

pub fn ended(reason: EndReason) -> (CallState, Reason) {
    (CallState::Ended, Reason::Ended(reason))
}
