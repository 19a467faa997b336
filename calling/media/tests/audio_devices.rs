//! Real devices on a machine that may have no sound card: opening and listing must answer
//! (an error or a working device), never panic and never hang.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use media::audio::{
    list_input_devices, list_output_devices, AudioError, AudioSink, AudioSource, CpalMicrophone,
    CpalSpeaker, FRAME_SAMPLES,
};

/// Runs `f` on its own thread and fails the test if it takes longer than `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("the audio call hung (or panicked)")
}

fn assert_clear(e: &AudioError) {
    let message = e.to_string();
    assert!(
        matches!(
            e,
            AudioError::NoDevice { .. }
                | AudioError::Device { .. }
                | AudioError::UnsupportedFormat { .. }
        ),
        "unexpected error kind: {e:?}"
    );
    assert!(
        message.contains("microphone") || message.contains("speaker"),
        "message does not say which device: {message}"
    );
}

#[test]
fn default_microphone_opens_or_fails_clearly() {
    let outcome = within(Duration::from_secs(20), || {
        CpalMicrophone::open(None).map(|mut mic| {
            // A real device: it must deliver a frame or time out with an error.
            let frame = mic.read_frame();
            (mic.describe(), frame.map(|f| f.samples.len()))
        })
    });
    match outcome {
        Err(e) => assert_clear(&e),
        Ok((description, frame)) => {
            assert!(description.starts_with("microphone"), "{description}");
            match frame {
                Ok(len) => assert_eq!(len, FRAME_SAMPLES),
                Err(e) => assert!(matches!(
                    e,
                    AudioError::Timeout { .. } | AudioError::Device { .. }
                )),
            }
        }
    }
}

#[test]
fn default_speaker_opens_or_fails_clearly() {
    let outcome = within(Duration::from_secs(20), || {
        CpalSpeaker::open(None)
            .map(|mut speaker| (speaker.describe(), speaker.write_frame(&[0; FRAME_SAMPLES])))
    });
    match outcome {
        Err(e) => assert_clear(&e),
        Ok((description, written)) => {
            assert!(description.starts_with("speaker"), "{description}");
            written.expect("writing to an open speaker");
        }
    }
}

#[test]
fn an_unknown_device_name_is_not_found() {
    let name = "phantomcall-no-such-device";
    let (mic, speaker) = within(Duration::from_secs(20), move || {
        (
            CpalMicrophone::open(Some(name)).map(|_| ()),
            CpalSpeaker::open(Some(name)).map(|_| ()),
        )
    });
    for (result, kind) in [(mic, "microphone"), (speaker, "speaker")] {
        match result {
            Err(AudioError::DeviceNotFound { name: n, .. }) => assert_eq!(n, name),
            // Listing itself may fail without a sound system.
            Err(e @ AudioError::Device { .. }) => assert!(e.to_string().contains("audio host")),
            other => panic!("{kind}: {other:?}"),
        }
    }
}

#[test]
fn device_lists_answer() {
    let (inputs, outputs) = within(Duration::from_secs(20), || {
        (list_input_devices(), list_output_devices())
    });
    for list in [inputs, outputs] {
        match list {
            Ok(names) => assert!(names.iter().all(|n| !n.is_empty())),
            Err(e) => assert!(matches!(e, AudioError::Device { .. }), "{e:?}"),
        }
    }
}

#[test]
fn listed_devices_open_and_deliver_or_fail_clearly() {
    // Even without a sound card ALSA lists its "null" device, so this goes through the
    // whole capture path (format choice, conversion, framing) where the machine allows.
    let outcome = within(Duration::from_secs(20), || {
        let Ok(inputs) = list_input_devices() else {
            return Vec::new();
        };
        let mut results = Vec::new();
        for name in inputs.into_iter().take(3) {
            let result = CpalMicrophone::open(Some(&name)).and_then(|mut mic| {
                let first = mic.read_frame()?;
                let second = mic.read_frame()?;
                Ok((first, second))
            });
            results.push((name, result));
        }
        results
    });
    for (name, result) in outcome {
        match result {
            Ok((first, second)) => {
                assert_eq!(first.samples.len(), FRAME_SAMPLES, "{name}");
                assert!(
                    second.captured_at > first.captured_at,
                    "{name}: time went back"
                );
            }
            Err(e) => assert!(
                matches!(
                    e,
                    AudioError::Device { .. }
                        | AudioError::UnsupportedFormat { .. }
                        | AudioError::Timeout { .. }
                ),
                "{name}: {e:?}"
            ),
        }
    }
}
