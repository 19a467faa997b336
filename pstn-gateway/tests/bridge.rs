//! A phone line bridged into a real PhantomCall call: the gateway's engine (devices =
//! phone lines) and a user's engine on an embedded relay, real webrtc-rs media on
//! loopback, the phone played by a task that speaks 20 ms frames at 8 kHz.

use std::sync::Arc;
use std::time::Duration;

use calling::client::{self, Callers, Client, ClientSetup};
use calling::peer::NetworkConfig;
use calling::{CallEngine, CallState, EngineEvent, SyntheticDevices};
use media::audio::{goertzel_power, DtmfDetector, ToneCheck, SAMPLE_RATE};
use nostr_signal::{EmbeddedRelay, Identity, NostrTransportConfig, RelayUrl};
use phantomcall_schemas::{CallId, PhoneLeg, PrivacyMode};
use pstn_gateway::bridge::{PhoneAudio, PhoneDevices, PHONE_FRAME};
use tokio::sync::{broadcast, mpsc};

fn transport(relay: &RelayUrl) -> NostrTransportConfig {
    let mut config = NostrTransportConfig::new(vec![relay.clone()]);
    config.reconnect_interval = Duration::from_millis(300);
    config.dm_relay_lookup_timeout = Duration::from_millis(500);
    config.allow_local_peer_relays = true;
    config
}

async fn client(relay: &RelayUrl, devices: Arc<dyn calling::MediaDevices>) -> Client {
    let mut setup = ClientSetup::new(
        Identity::generate(),
        transport(relay),
        devices,
        Callers::Anyone,
    );
    setup.network = NetworkConfig::loopback();
    setup.configure = Some(Box::new(client::takes_any_mode));
    client::connect(setup).await.expect("client starts")
}

async fn wait_state(
    events: &mut broadcast::Receiver<EngineEvent>,
    call: CallId,
    state: CallState,
) -> calling::CallEvent {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let EngineEvent::Call(e) = events.recv().await.expect("engine events") {
                if e.call_id == call && e.state == state {
                    return e;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{state:?} within 20 s"))
}

/// A telephone: says `hz` every 20 ms and keeps what it hears.
struct Telephone {
    heard: Arc<std::sync::Mutex<Vec<i16>>>,
    /// Keys the user pressed, as the leg would send them to the telephone.
    keys: Arc<std::sync::Mutex<String>>,
    /// Presses a key on the telephone.
    press: mpsc::Sender<char>,
    task: tokio::task::JoinHandle<()>,
}

fn telephone(hz: f64) -> (Telephone, PhoneAudio) {
    let (speak, from_phone) = mpsc::channel(8);
    let (to_phone, mut hear) = mpsc::channel::<Vec<i16>>(64);
    let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = heard.clone();
    let (keys_to_phone, mut keys_in) = mpsc::channel::<char>(32);
    let (press, keys_from_phone) = mpsc::channel::<char>(32);
    let keys = Arc::new(std::sync::Mutex::new(String::new()));
    let keys_kept = keys.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut n = 0usize;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let frame: Vec<i16> = (0..PHONE_FRAME)
                        .map(|i| {
                            let t = (n + i) as f64 / 8_000.0;
                            (6_000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
                        })
                        .collect();
                    n += PHONE_FRAME;
                    if speak.send(frame).await.is_err() {
                        return;
                    }
                }
                frame = hear.recv() => match frame {
                    Some(frame) => kept.lock().unwrap().extend(frame),
                    None => return,
                },
                Some(key) = keys_in.recv() => keys_kept.lock().unwrap().push(key),
            }
        }
    });
    (
        Telephone {
            heard,
            keys,
            press,
            task,
        },
        PhoneAudio {
            from_phone,
            to_phone,
            keys_from_phone: Some(keys_from_phone),
            keys_to_phone: Some(keys_to_phone),
        },
    )
}

/// Whether the last second the telephone heard is `hz` rather than its neighbours.
fn telephone_hears(phone: &Telephone, hz: f32) -> bool {
    let heard = phone.heard.lock().unwrap();
    let last = &heard[heard.len().saturating_sub(8_000)..];
    let wanted = goertzel_power(last, hz, 8_000);
    let others = [300.0, 660.0, 1_000.0, 2_000.0]
        .iter()
        .filter(|&&f| (f - hz).abs() > 50.0)
        .map(|&f| goertzel_power(last, f, 8_000))
        .fold(0.0, f64::max);
    last.len() == 8_000 && wanted > 1e-4 && wanted > 10.0 * others
}

fn speaker_hears(devices: &SyntheticDevices, hz: f32) -> bool {
    let speaker = devices.probes.speakers().pop().expect("a speaker");
    ToneCheck::detect(&speaker.recording.last(SAMPLE_RATE as usize), hz).dominant
}

async fn hang_up(engine: &CallEngine, call: CallId) {
    engine.hangup(call);
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_phone_caller_and_a_user_hear_each_other_through_the_gateway() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let lines = PhoneDevices::default();
    let gateway = client(relay.url(), Arc::new(lines.clone())).await;
    let user_devices = SyntheticDevices::new(440.0);
    let user = client(relay.url(), Arc::new(user_devices.clone())).await;
    let mut user_events = user.engine.events();

    // An inbound phone call: the gateway rings the user on the caller's behalf.
    let (phone, audio) = telephone(1_000.0);
    let call = gateway
        .engine
        .dial_for_phone(user.key, "+1 555 …12", None, PrivacyMode::Fast)
        .expect("a number as shown");
    lines.connect(call, audio);
    let ringing = wait_state(&mut user_events, call, CallState::Ringing).await;
    assert_eq!(ringing.phone, PhoneLeg::phone("+1 555 …12"));
    user.engine.accept(call, false);
    wait_state(&mut user_events, call, CallState::Connected).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    assert!(
        speaker_hears(&user_devices, 1_000.0),
        "the user hears the phone's 1 kHz"
    );
    assert!(
        telephone_hears(&phone, 440.0),
        "the phone hears the user's 440 Hz"
    );
    hang_up(&user.engine, call).await;
    lines.disconnect(call);
    phone.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_dials_a_number_and_the_gateway_bridges_the_line_it_opens() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let lines = PhoneDevices::default();
    let gateway = client(relay.url(), Arc::new(lines.clone())).await;
    let mut gateway_events = gateway.engine.events();
    let user_devices = SyntheticDevices::new(660.0);
    let user = client(relay.url(), Arc::new(user_devices.clone())).await;
    let mut user_events = user.engine.events();

    let call = user
        .engine
        .dial_phone(gateway.key, "+15551234567", PrivacyMode::Fast)
        .expect("E.164");
    let offered = wait_state(&mut gateway_events, call, CallState::Ringing).await;
    let Some(PhoneLeg::Dial { number }) = offered.phone else {
        panic!("the gateway reads the number: {:?}", offered.phone);
    };
    assert_eq!(number, "+15551234567");
    // Here the phone leg would dial the trunk; the telephone answers at once.
    let (phone, audio) = telephone(300.0);
    lines.connect(call, audio);
    assert!(gateway.engine.accept_for_phone(call, "+1 555 …67"));
    let connected = wait_state(&mut user_events, call, CallState::Connected).await;
    assert_eq!(connected.phone, PhoneLeg::phone("+1 555 …67"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        speaker_hears(&user_devices, 300.0),
        "the user hears the phone"
    );
    assert!(telephone_hears(&phone, 660.0), "the phone hears the user");

    // Keypad: the user's keys reach the telephone, the telephone's reach the user's ear.
    user.engine.send_dtmf(call, "5#x9");
    phone.press.send('7').await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        *phone.keys.lock().unwrap(),
        "5#9",
        "the user's keys, found in the call's audio (x is no key)"
    );
    let speaker = user_devices.probes.speakers().pop().expect("a speaker");
    let heard = speaker.recording.last(3 * SAMPLE_RATE as usize);
    let keys: String = DtmfDetector::new(SAMPLE_RATE)
        .push(&heard)
        .into_iter()
        .collect();
    assert_eq!(keys, "7", "the user hears the key pressed on the telephone");
    hang_up(&user.engine, call).await;
    phone.task.abort();
}
