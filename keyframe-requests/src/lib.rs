//! Keyframe requests between WebRTC peers (RTCP PLI and FIR, RFC 4585 and RFC 5104).
//!
//! A receiver that lost part of a video stream asks the sender for a keyframe; only the
//! sender's encoder can answer. webrtc-rs stops inbound RTCP at the end of its interceptor
//! chain, so without [`KeyframeRequestsToApp`] an application never sees the request: the
//! call engine would leave a damaged picture until its next periodic keyframe, and the SFU
//! could not relay a subscriber's request to the publisher.
//!
//! This crate must never change or hold back outbound packets, and never hand the
//! application anything but keyframe requests (receiver reports, NACKs and congestion
//! feedback stay with the interceptors that act on them).

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::sansio::Protocol;

/// The registry slot for [`KeyframeRequestsToApp`]: application-most, above every slot
/// webrtc-rs defines, so every interceptor has seen the whole inbound RTCP first.
pub fn slot() -> Slot {
    Slot::from(14_000usize)
}

/// Whether an RTCP packet asks for a keyframe (PLI or FIR).
pub fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

/// A picture loss indication about the stream `media_ssrc`: "send me a keyframe".
pub fn picture_loss(media_ssrc: u32) -> Box<dyn rtc::rtcp::Packet> {
    Box::new(PictureLossIndication {
        // The sender's own SSRC is not needed to answer; browsers also send 0 or 1 here.
        sender_ssrc: 0,
        media_ssrc,
    })
}

/// Marks inbound keyframe requests for the application and drops the rest of the inbound
/// RTCP at the end of the chain, where webrtc-rs stops it anyway. Register it at [`slot()`].
#[derive(Default)]
pub struct KeyframeRequestsToApp {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestsToApp {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let requests: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| is_keyframe_request(p.as_ref()))
                .cloned()
                .collect();
            if requests.is_empty() {
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }
}

impl Interceptor for KeyframeRequestsToApp {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::AttributedPacket;
    use rtc::rtcp::receiver_report::ReceiverReport;
    use rtc::shared::TransportContext;

    fn inbound(packets: Vec<Box<dyn rtc::rtcp::Packet>>) -> TaggedPacket {
        TaggedPacket {
            now: Instant::now(),
            transport: TransportContext::default(),
            message: AttributedPacket::new(Packet::Rtcp(packets)),
        }
    }

    fn delivered(packet: &TaggedPacket) -> bool {
        packet
            .message
            .attributes
            .iter()
            .any(|a| matches!(a, Attribute::DeliverToApplication))
    }

    #[test]
    fn a_keyframe_request_reaches_the_application_and_nothing_else_does() {
        let mut chain = KeyframeRequestsToApp::default();
        let fir = FullIntraRequest::default();
        chain
            .handle_read(inbound(vec![
                Box::new(ReceiverReport::default()),
                picture_loss(7),
                Box::new(fir),
            ]))
            .unwrap();
        chain
            .handle_read(inbound(vec![Box::new(ReceiverReport::default())]))
            .unwrap();
        let out = chain.poll_read().expect("the requests go on");
        assert!(delivered(&out));
        let Packet::Rtcp(packets) = &out.message.packet else {
            panic!("RTCP in, RTCP out");
        };
        assert_eq!(packets.len(), 2, "the receiver report was taken out");
        assert!(packets.iter().all(|p| is_keyframe_request(p.as_ref())));
        assert!(
            chain.poll_read().is_none(),
            "a report alone goes no further"
        );
    }

    #[test]
    fn outbound_packets_pass_untouched() {
        let mut chain = KeyframeRequestsToApp::default();
        chain.handle_write(inbound(vec![picture_loss(9)])).unwrap();
        let out = chain.poll_write().expect("written packets pass");
        assert!(!delivered(&out));
        assert!(!is_keyframe_request(&ReceiverReport::default()));
    }
}
