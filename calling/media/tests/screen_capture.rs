//! The real screen capture (xcap) against a real X server: Xvfb, started here on a free
//! display with a white root window, 2560x1440 so the downscale path runs too; then a real
//! window manager (openbox) and a real window (xlogo) for window sharing.
//!
//! One test in this binary: it points DISPLAY at its own server, which no other test may
//! see half-set.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use media::video::{
    list_screen_targets, EncoderConfig, ScreenKind, ScreenSource, VideoDecoder, VideoEncoder,
    XcapScreen, MAX_SCREEN_SIZE,
};

/// A process (X server, window manager, X client) that is killed with the test.
struct Running {
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Xvfb on the first free display from :140 and waits for its socket.
fn start_xvfb(width: u32, height: u32) -> (Running, String) {
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
        let server = Running { child };
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

    // With a window manager, windows are listed and can be shared one by one. xlogo sets
    // only the legacy title, so it is listed by its application name.
    let _wm = spawn("openbox", &["--sm-disable"], &display);
    let _logo = spawn(
        "xlogo",
        &[
            "-geometry",
            "301x201+40+40",
            "-title",
            "phantomcall-share-test",
        ],
        &display,
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let window = loop {
        let list = list_screen_targets();
        if let Some(w) = list
            .targets
            .iter()
            .find(|t| t.kind == ScreenKind::Window && t.name == "XLogo")
        {
            break w.clone();
        }
        assert!(
            Instant::now() < deadline,
            "xlogo's window never listed: {list:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!((window.width, window.height), (301, 201), "{window:?}");
    let mut shared = XcapScreen::open(&window).expect("open the window");
    let frame = shared.read_frame().expect("capture the window");
    // Odd sides are cropped by a pixel, not resampled.
    assert_eq!((frame.width(), frame.height()), (300, 200));
    let (dark, bright) = frame.rgba().chunks_exact(4).fold((0, 0), |(d, b), px| {
        let luma = (u32::from(px[0]) + u32::from(px[1]) + u32::from(px[2])) / 3;
        (d + usize::from(luma < 64), b + usize::from(luma > 192))
    });
    assert!(
        dark > 1000 && bright > 1000,
        "the logo window has its black X on white: {dark} dark, {bright} bright pixels"
    );
}

/// Starts `program` on `display`; it is killed when the handle drops.
fn spawn(program: &str, args: &[&str], display: &str) -> Running {
    let child = Command::new(program)
        .args(args)
        .env("DISPLAY", display)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is installed by scripts/setup.sh: {e}"));
    Running { child }
}
