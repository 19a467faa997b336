//! The real screen capture (xcap) against a real X server: Xvfb, started here on a free
//! display with a white root window, 2560x1440 so the downscale path runs too.
//!
//! One test in this binary: it points DISPLAY at its own server, which no other test may
//! see half-set.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use media::video::{
    list_screen_targets, EncoderConfig, ScreenKind, ScreenSource, VideoDecoder, VideoEncoder,
    XcapScreen, MAX_SCREEN_SIZE,
};

/// An Xvfb server that is killed with the test.
struct Xvfb {
    child: Child,
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Xvfb on the first free display from :140 and waits for its socket.
fn start_xvfb(width: u32, height: u32) -> (Xvfb, String) {
    for n in 140..180 {
        if std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
            || std::path::Path::new(&format!("/tmp/.X{n}-lock")).exists()
        {
            continue;
        }
        let display = format!(":{n}");
        let child = Command::new("Xvfb")
            .args([
                &display,
                "-screen",
                "0",
                &format!("{width}x{height}x24"),
                "-wr", // white root window: a capture of it is known to be white
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is installed by scripts/setup.sh (package xvfb)");
        let server = Xvfb { child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
                return (server, display);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("Xvfb {display} did not come up within 10 s");
    }
    panic!("no free X display between :140 and :180");
}

#[test]
fn xcap_lists_captures_and_scales_a_real_x_screen_for_sharing() {
    let (_server, display) = start_xvfb(2560, 1440);
    std::env::set_var("DISPLAY", &display);
    std::env::remove_var("WAYLAND_DISPLAY");

    let list = list_screen_targets();
    let screens: Vec<_> = list
        .targets
        .iter()
        .filter(|t| t.kind == ScreenKind::Screen)
        .collect();
    assert_eq!(screens.len(), 1, "{list:?}");
    assert_eq!((screens[0].width, screens[0].height), (2560, 1440));
    // No window manager runs: windows cannot be listed, and the list says so instead of
    // failing as a whole.
    assert!(
        list.problems.iter().any(|p| p.contains("windows")),
        "{list:?}"
    );

    let mut screen = XcapScreen::open(screens[0]).expect("open the screen");
    assert!(
        screen.describe().contains("2560x1440"),
        "{}",
        screen.describe()
    );
    let frame = screen.read_frame().expect("capture");
    assert_eq!((frame.width(), frame.height()), MAX_SCREEN_SIZE);
    let mean =
        frame.rgba().iter().map(|&v| u64::from(v)).sum::<u64>() as f64 / frame.rgba().len() as f64;
    assert!(mean > 240.0, "the white root window, captured: mean {mean}");

    // Screen content through VP8 and back stays a white 1080p picture.
    let (w, h) = MAX_SCREEN_SIZE;
    let mut encoder = VideoEncoder::new(EncoderConfig::screen(w, h, 5)).unwrap();
    let mut decoder = VideoDecoder::new().unwrap();
    let packets = encoder.encode_screen(&frame, true).unwrap();
    assert_eq!(packets.len(), 1);
    assert!(packets[0].keyframe);
    let pictures = decoder.decode(&packets[0].data).unwrap();
    assert_eq!(pictures.len(), 1);
    assert_eq!((pictures[0].width, pictures[0].height), (w, h));
    let luma = &pictures[0].i420[..(w * h) as usize];
    let mean_luma = luma.iter().map(|&v| u64::from(v)).sum::<u64>() / luma.len() as u64;
    assert!(mean_luma > 220, "decoded luma {mean_luma}");

    // A target that does not exist is a clear error, not a panic.
    let mut gone = screens[0].clone();
    gone.id = gone.id.wrapping_add(1000);
    let err = XcapScreen::open(&gone).unwrap_err();
    assert!(err.to_string().contains("no longer there"), "{err}");
}
