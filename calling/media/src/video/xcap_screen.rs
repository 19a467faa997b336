//! [`XcapScreen`]: the real screen and window capture, through xcap. On X11 each frame is
//! grabbed through xcb (tested here against Xvfb with openbox); on Wayland a screen is one
//! ScreenCast portal session streaming through PipeWire, in which the desktop asks the user
//! what to share (not testable on this machine: it has no Wayland compositor or portal).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use xcap::{Frame, Monitor, VideoRecorder, Window, XCapError};

use super::screen::{ContentScaler, ScreenKind, ScreenTarget, SCREEN_FPS};
use super::source::Pacer;
use super::{ScreenFrame, ScreenSource, VideoError};

/// Captures in a row that may fail before the share ends: a window being moved or
/// redrawn can fail one grab; a closed one fails them all. Two seconds at [`SCREEN_FPS`].
const MAX_FAILED_GRABS: u32 = 10;
/// How long a Wayland screen stream may take to deliver its first frame (the portal's
/// dialog is answered before the stream starts, so this is only PipeWire's start-up).
const FIRST_STREAM_FRAME: Duration = Duration::from_secs(5);

/// Whether this is a Wayland session (the rule xcap itself applies).
fn on_wayland() -> bool {
    let var = |name| std::env::var(name).unwrap_or_default().to_lowercase();
    var("XDG_SESSION_TYPE") == "wayland" || var("WAYLAND_DISPLAY").contains("wayland")
}

/// What can be shared now, and what could not be listed.
#[derive(Debug, Clone, Default)]
pub struct ScreenTargets {
    /// Screens first, then windows by title.
    pub targets: Vec<ScreenTarget>,
    /// Why screens or windows could not be listed (windows need a window manager that
    /// publishes its stacking list, for one). Empty when all went well.
    pub problems: Vec<String>,
}

/// Runs an xcap call, turning its errors and panics into [`VideoError::Screen`]: a
/// misbehaving display server must not bring the call down.
fn guard<T>(what: &str, f: impl FnOnce() -> Result<T, XCapError>) -> Result<T, VideoError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(VideoError::Screen(format!("{what}: {e}"))),
        Err(_) => Err(VideoError::Screen(format!(
            "{what}: the screen capture library panicked"
        ))),
    }
}

/// The screens and windows that can be shared. Never fails as a whole: what could not be
/// listed is in [`ScreenTargets::problems`].
pub fn list_screen_targets() -> ScreenTargets {
    let mut list = ScreenTargets::default();
    match guard("listing screens", Monitor::all) {
        Ok(monitors) => {
            for (n, monitor) in monitors.iter().enumerate() {
                let (Ok(id), Ok(width), Ok(height)) =
                    (monitor.id(), monitor.width(), monitor.height())
                else {
                    continue;
                };
                let name = monitor
                    .name()
                    .ok()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| format!("screen {}", n + 1));
                list.targets.push(ScreenTarget {
                    kind: ScreenKind::Screen,
                    id,
                    name,
                    width,
                    height,
                });
            }
        }
        Err(e) => list.problems.push(e.to_string()),
    }
    match guard("listing windows", Window::all) {
        Ok(windows) => {
            let mut found: Vec<ScreenTarget> = windows
                .iter()
                // A window whose state is unknown is offered: a failed grab says so.
                .filter(|w| !w.is_minimized().unwrap_or(false))
                .filter_map(|w| {
                    let title = w.title().ok().filter(|t| !t.trim().is_empty());
                    let app = w.app_name().ok().filter(|a| !a.trim().is_empty());
                    // Legacy X clients set no UTF-8 title: their application name it is.
                    let name = match (title, app) {
                        (Some(title), Some(app)) if !title.contains(&app) => {
                            format!("{title} — {app}")
                        }
                        (Some(title), _) => title,
                        (None, Some(app)) => app,
                        (None, None) => return None,
                    };
                    Some(ScreenTarget {
                        kind: ScreenKind::Window,
                        id: w.id().ok()?,
                        name,
                        width: w.width().ok()?,
                        height: w.height().ok()?,
                    })
                })
                .collect();
            found.sort_by(|a, b| a.name.cmp(&b.name));
            list.targets.extend(found);
        }
        Err(e) => list.problems.push(e.to_string()),
    }
    list
}

enum Captured {
    /// An X11 screen, grabbed frame by frame.
    Screen(Monitor),
    /// A window, grabbed frame by frame (X11 and XWayland windows).
    Window(Window),
    /// A Wayland screen: one ScreenCast portal session (the desktop asks the user once)
    /// streaming through PipeWire. Grabbing frame by frame would go through the Screenshot
    /// portal, which writes every frame to a file.
    Stream {
        recorder: VideoRecorder,
        frames: Receiver<Frame>,
        /// PipeWire sends frames only when the screen changes: the last one is sent again
        /// to keep the share's frame rate (the peer takes silence for a stop).
        last: Option<Frame>,
    },
}

impl Drop for Captured {
    fn drop(&mut self) {
        if let Captured::Stream { recorder, .. } = self {
            let _ = guard("stopping the screen stream", || recorder.stop());
        }
    }
}

/// A screen or window captured through xcap at [`SCREEN_FPS`], scaled to the shared size.
pub struct XcapScreen {
    what: Captured,
    target: ScreenTarget,
    pacer: Pacer,
    scaler: ContentScaler,
    failed_grabs: u32,
}

impl std::fmt::Debug for XcapScreen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XcapScreen")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl XcapScreen {
    /// Opens `target` (from [`list_screen_targets`]). Fails when it no longer exists.
    pub fn open(target: &ScreenTarget) -> Result<XcapScreen, VideoError> {
        let gone =
            || VideoError::Screen(format!("{target} is no longer there (closed or unplugged)"));
        let what = match target.kind {
            ScreenKind::Screen => {
                let monitor = guard("opening the screen", Monitor::all)?
                    .into_iter()
                    .find(|m| m.id().ok() == Some(target.id))
                    .ok_or_else(gone)?;
                if on_wayland() {
                    let (recorder, frames) =
                        guard("starting the screen stream", || monitor.video_recorder())?;
                    guard("starting the screen stream", || recorder.start())?;
                    Captured::Stream {
                        recorder,
                        frames,
                        last: None,
                    }
                } else {
                    Captured::Screen(monitor)
                }
            }
            ScreenKind::Window => guard("opening the window", Window::all)?
                .into_iter()
                .find(|w| w.id().ok() == Some(target.id))
                .map(Captured::Window)
                .ok_or_else(gone)?,
        };
        Ok(XcapScreen {
            what,
            target: target.clone(),
            pacer: Pacer::new(SCREEN_FPS, 1),
            scaler: ContentScaler::new(),
            failed_grabs: 0,
        })
    }

    fn grab(&mut self) -> Result<ScreenFrame, VideoError> {
        let (rgba, width, height) = match &mut self.what {
            Captured::Screen(m) => {
                let image = guard("capturing the screen", || m.capture_image())?;
                let (width, height) = image.dimensions();
                (image.into_raw(), width, height)
            }
            Captured::Window(w) => {
                let image = guard("capturing the window", || w.capture_image())?;
                let (width, height) = image.dimensions();
                (image.into_raw(), width, height)
            }
            Captured::Stream { frames, last, .. } => {
                let newest = match last {
                    // Whatever came since the last frame; the newest wins.
                    Some(_) => frames.try_iter().last(),
                    None => match frames.recv_timeout(FIRST_STREAM_FRAME) {
                        Ok(first) => Some(frames.try_iter().last().unwrap_or(first)),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => {
                            return Err(VideoError::Screen("the screen stream ended".into()))
                        }
                    },
                };
                if let Some(frame) = newest {
                    *last = Some(frame);
                }
                let frame = last.as_ref().ok_or_else(|| {
                    VideoError::Screen("the screen stream sent no picture".into())
                })?;
                (frame.raw.clone(), frame.width, frame.height)
            }
        };
        self.scaler.frame(rgba, width, height, Instant::now())
    }
}

impl ScreenSource for XcapScreen {
    fn read_frame(&mut self) -> Result<ScreenFrame, VideoError> {
        loop {
            self.pacer.wait();
            match self.grab() {
                Ok(frame) => {
                    self.failed_grabs = 0;
                    return Ok(frame);
                }
                Err(e) => {
                    self.failed_grabs += 1;
                    if self.failed_grabs >= MAX_FAILED_GRABS {
                        return Err(e);
                    }
                    tracing::debug!(error = %e, "screen grab failed; trying the next frame");
                }
            }
        }
    }

    fn describe(&self) -> String {
        self.target.to_string()
    }

    fn fps(&self) -> u32 {
        self.pacer.fps()
    }
}
