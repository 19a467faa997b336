//! A Bluetooth voice call on Tokio: the sender and receiver glued to a `MeshNode`'s
//! voice packets, a 40 ms playout clock, and the microphone and speaker either as the
//! rest of calling has them ([`MediaDevices`], on threads of their own) or as channels
//! ([`BleVoiceIo`], what tests and the app's own audio path use).
//!
//! Which connection is the peer's: the one given, else the one whose packets
//! authenticate. Until then (or after that connection went away) packets go to every
//! connected neighbour; they are sealed, so a neighbour that is not the peer learns only
//! that a call is on, which it could tell from the radio anyway. Packets from other
//! neighbours are dropped unread once the peer is known. One call per `MeshNode`: voice
//! packets are not addressed to calls.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant as StdInstant;

use media::audio::{AudioFrame, FRAME_SAMPLES as SPEAKER_FRAME};
use nostr_signal::ble_fallback::{MeshNode, NeighborId, NodeStatus};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::keys::SessionKeys;
use super::packet::Dropped;
use super::receiver::{BleVoiceReceiver, ReceiverStats, Source};
use super::sender::{BleVoiceSender, SenderStats};
use super::{BleVoiceConfig, BleVoiceError, FRAME};
use crate::devices::MediaDevices;
use crate::pipeline::Controls;

/// Microphone frames waiting for the encoder (20 ms each): 200 ms.
const MICROPHONE_QUEUE: usize = 10;
/// Played frames waiting for the speaker (40 ms each): 320 ms.
const SPEAKER_QUEUE: usize = 8;

/// One playout turn's audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayedFrame {
    /// 40 ms of 48 kHz mono.
    pub samples: Vec<i16>,
    /// When the playout clock released it.
    pub played_at: StdInstant,
    /// Where it came from.
    pub source: Source,
    /// Its timestamp in the sender's 48 kHz clock, when known.
    pub timestamp: Option<u32>,
}

/// The call's audio ends, when it runs on channels.
#[derive(Debug)]
pub struct BleVoiceIo {
    /// 20 ms microphone frames in. Closing it stops sending; the call still plays.
    pub microphone: mpsc::Sender<AudioFrame>,
    /// Played audio out, one 40 ms frame per playout turn.
    pub speaker: mpsc::Receiver<PlayedFrame>,
}

/// What a running call did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallStats {
    /// The sending half.
    pub sender: SenderStats,
    /// The receiving half.
    pub receiver: ReceiverStats,
    /// Packets sent to every neighbour while the peer's connection was unknown.
    pub sent_to_all: u64,
    /// Frames that could not be encoded or sealed.
    pub send_errors: u64,
    /// Played frames lost because the speaker did not keep up.
    pub speaker_overflow: u64,
    /// The peer's connection, once known.
    pub peer: Option<NeighborId>,
}

/// A running Bluetooth voice call. Dropping it ends the call.
#[derive(Debug)]
pub struct BleVoiceCall {
    stats: Arc<Mutex<CallStats>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl BleVoiceCall {
    /// Starts the call over `mesh` toward `peer` (or the neighbour whose packets
    /// authenticate), with the audio ends as channels. Must run inside a Tokio runtime.
    pub fn start(
        mesh: Arc<MeshNode>,
        peer: Option<NeighborId>,
        keys: SessionKeys,
        config: BleVoiceConfig,
    ) -> Result<(Self, BleVoiceIo), BleVoiceError> {
        let sender = BleVoiceSender::new(keys.send, &config)?;
        let receiver = BleVoiceReceiver::new(keys.recv, &config)?;
        let (microphone, mic_rx) = mpsc::channel(MICROPHONE_QUEUE);
        let (speaker_tx, speaker) = mpsc::channel(SPEAKER_QUEUE);
        let (stop, stop_rx) = oneshot::channel();
        let stats = Arc::new(Mutex::new(CallStats {
            peer,
            ..CallStats::default()
        }));
        let status = mesh.status();
        let task = tokio::spawn(run(
            Running {
                mesh,
                status,
                peer,
                sender,
                receiver,
                mic_rx,
                speaker_tx,
                stats: stats.clone(),
                local: CallStats {
                    peer,
                    ..CallStats::default()
                },
            },
            stop_rx,
        ));
        let call = Self {
            stats,
            stop: Some(stop),
            task: Some(task),
            threads: Vec::new(),
        };
        Ok((
            call,
            BleVoiceIo {
                microphone,
                speaker,
            },
        ))
    }

    /// Starts the call with the device's microphone and speaker, each on a thread (they
    /// block on the hardware). Voice processing (echo cancellation) is not applied yet.
    pub fn start_with_devices(
        mesh: Arc<MeshNode>,
        peer: Option<NeighborId>,
        keys: SessionKeys,
        config: BleVoiceConfig,
        devices: &dyn MediaDevices,
    ) -> Result<Self, BleVoiceError> {
        Self::start_on_devices(mesh, peer, keys, config, devices, None)
    }

    /// [`Self::start_with_devices`] inside a call of the engine: `controls` mutes the
    /// microphone (silence is sent, so the peer's playout keeps its clock) as the user
    /// mutes the call.
    pub(crate) fn start_on_devices(
        mesh: Arc<MeshNode>,
        peer: Option<NeighborId>,
        keys: SessionKeys,
        config: BleVoiceConfig,
        devices: &dyn MediaDevices,
        controls: Option<Arc<Controls>>,
    ) -> Result<Self, BleVoiceError> {
        let mut source = devices.microphone()?;
        let mut sink = devices.speaker()?;
        let (mut call, io) = Self::start(mesh, peer, keys, config)?;
        let BleVoiceIo {
            microphone,
            mut speaker,
        } = io;
        let setup = |e: std::io::Error| BleVoiceError::Setup(e.to_string());
        let mic = std::thread::Builder::new()
            .name("ble-voice-mic".into())
            .spawn(move || loop {
                match source.read_frame() {
                    // Fails once the call has ended.
                    Ok(mut frame) => {
                        if controls.as_ref().is_some_and(|c| Controls::get(&c.muted)) {
                            frame.samples.fill(0);
                        }
                        if microphone.blocking_send(frame).is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "Bluetooth voice: microphone failed");
                        return;
                    }
                }
            })
            .map_err(setup)?;
        call.threads.push(mic);
        let out = std::thread::Builder::new()
            .name("ble-voice-speaker".into())
            .spawn(move || {
                while let Some(played) = speaker.blocking_recv() {
                    for half in played.samples.chunks(SPEAKER_FRAME) {
                        if let Err(error) = sink.write_frame(half) {
                            tracing::warn!(%error, "Bluetooth voice: speaker failed");
                            return;
                        }
                    }
                }
            })
            .map_err(setup)?;
        call.threads.push(out);
        Ok(call)
    }

    /// What the call did so far.
    pub fn stats(&self) -> CallStats {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Ends the call and waits for its task and device threads.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let threads = std::mem::take(&mut self.threads);
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}

impl Drop for BleVoiceCall {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

struct Running {
    mesh: Arc<MeshNode>,
    status: watch::Receiver<NodeStatus>,
    /// The peer's connection, once known.
    peer: Option<NeighborId>,
    sender: BleVoiceSender,
    receiver: BleVoiceReceiver,
    mic_rx: mpsc::Receiver<AudioFrame>,
    speaker_tx: mpsc::Sender<PlayedFrame>,
    stats: Arc<Mutex<CallStats>>,
    local: CallStats,
}

fn now() -> StdInstant {
    tokio::time::Instant::now().into_std()
}

async fn run(mut call: Running, mut stop: oneshot::Receiver<()>) {
    let mut playout = tokio::time::interval(FRAME);
    // A late turn is skipped, not played in a burst: the buffer absorbs the difference.
    playout.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut microphone_open = true;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            frame = call.mic_rx.recv(), if microphone_open => match frame {
                Some(frame) => call.on_microphone(&frame),
                None => microphone_open = false,
            },
            voice = call.mesh.recv_voice() => match voice {
                Some((neighbor, packet)) => call.on_packet(neighbor, &packet),
                None => break,
            },
            _ = playout.tick() => call.on_playout(),
        }
        call.publish();
    }
}

impl Running {
    /// The peer's connection if it is still up; forgets it otherwise (it may come back
    /// as a new connection, found again by its packets).
    fn live_peer(&mut self) -> Option<NeighborId> {
        let peer = self.peer?;
        if self.status.borrow().neighbor_ids.contains(&peer) {
            Some(peer)
        } else {
            self.peer = None;
            None
        }
    }

    fn on_microphone(&mut self, frame: &AudioFrame) {
        let packet = match self.sender.push_frame(frame) {
            Ok(Some(packet)) => packet,
            Ok(None) => return,
            Err(error) => {
                tracing::debug!(%error, "Bluetooth voice frame not sent");
                self.local.send_errors += 1;
                return;
            }
        };
        match self.live_peer() {
            Some(peer) => self.mesh.send_voice(peer, packet.bytes),
            None => {
                let neighbors = self.status.borrow().neighbor_ids.clone();
                for neighbor in neighbors {
                    self.mesh.send_voice(neighbor, packet.bytes.clone());
                }
                self.local.sent_to_all += 1;
            }
        }
    }

    fn on_packet(&mut self, neighbor: NeighborId, packet: &[u8]) {
        if self.live_peer().is_some_and(|peer| peer != neighbor) {
            self.receiver.count_drop(Dropped::WrongNeighbor);
            return;
        }
        if self.receiver.push(packet, now()).is_ok() {
            self.peer = Some(neighbor);
        }
    }

    fn on_playout(&mut self) {
        let played_at = now();
        let pulled = self.receiver.pull(played_at);
        let frame = PlayedFrame {
            samples: pulled.samples,
            played_at,
            source: pulled.source,
            timestamp: pulled.timestamp,
        };
        if self.speaker_tx.try_send(frame).is_err() {
            self.local.speaker_overflow += 1;
        }
    }

    fn publish(&mut self) {
        self.local.sender = self.sender.stats();
        self.local.receiver = self.receiver.stats();
        self.local.peer = self.peer;
        let mut shared = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        shared.clone_from(&self.local);
    }
}
