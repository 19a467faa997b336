//! Paranoid mode's TURN-over-TCP framing (`calling/src/proxy/framing.rs`) on arbitrary
//! bytes, both ways: a datagram from webrtc-rs's TURN client, and a byte stream from the
//! TURN server through the proxy, cut into reads at places the input chooses. Never a
//! panic; what is framed comes back out unchanged; every message cut from the stream is
//! one whole TURN message.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../calling/src/proxy/framing.rs"]
mod framing;

use framing::{datagram_to_stream, StreamDeframer};

fuzz_target!(|data: &[u8]| {
    // As a datagram: framed, then cut back out, gives the message (without UDP padding).
    if let Ok(stream) = datagram_to_stream(data) {
        assert_eq!(stream.len() % 4, 0, "framed messages keep 4-byte alignment");
        let mut deframer = StreamDeframer::default();
        deframer.push(&stream);
        let message = deframer
            .next_message()
            .expect("a framed datagram deframes")
            .expect("a framed datagram is complete");
        assert!(data.starts_with(&message));
        assert_eq!(datagram_to_stream(&message).as_ref(), Ok(&stream));
        assert_eq!(deframer.next_message(), Ok(None));
    }

    // As a stream: the first byte picks the read size.
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut deframer = StreamDeframer::default();
    'reads: for read in stream.chunks(chunk) {
        deframer.push(read);
        loop {
            match deframer.next_message() {
                Ok(Some(message)) => {
                    // Whole and well formed: it frames again without change of length.
                    let framed = datagram_to_stream(&message).expect("a whole TURN message");
                    assert!(framed.len() >= message.len());
                }
                Ok(None) => break,
                // Not TURN: the bridge closes the connection here.
                Err(_) => break 'reads,
            }
        }
    }
});
