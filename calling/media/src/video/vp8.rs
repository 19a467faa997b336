//! The crate's only unsafe code: a minimal safe wrapper over libvpx's VP8 encoder and decoder
//! (bindings from `env-libvpx-sys`, library from Debian's libvpx-dev).
//!
//! Why our own wrapper: `vpx-rs` cannot change the bitrate of a running encoder (no
//! `vpx_codec_enc_config_set`), which congestion control needs without forcing keyframes;
//! `vpx-encode` has no decoder. The wrapper is small and every unsafe block states what it
//! relies on. The safe API above it ([`super::codec`]) checks sizes before anything gets here.
//!
//! Soundness rules followed throughout:
//! - contexts live in a `Box` (libvpx keeps internal pointers; they must not move) and are
//!   destroyed exactly once, in `Drop`, and only if initialisation succeeded;
//! - C structs are zero-initialised only where zero is a valid value of every field
//!   (including the bindgen enums); the encoder configuration is filled by libvpx itself;
//! - enum fields written by libvpx are read as plain integers, so an unexpected value can
//!   never become an invalid Rust enum;
//! - input buffers are checked to hold exactly one tight I420 frame before libvpx reads them.

use std::ffi::{c_char, c_int, c_long, c_uint, c_ulong, CStr};
use std::mem::MaybeUninit;
use std::ptr;

use vpx_sys as sys;

/// Encoder settings that go into libvpx's configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vp8Settings {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) fps: u32,
    pub(crate) bitrate_kbps: u32,
    pub(crate) threads: u32,
    /// Longest distance between keyframes, in frames.
    pub(crate) keyframe_max_dist: u32,
    /// libvpx's screen-content mode (text, static areas).
    pub(crate) screen_content: bool,
}

/// One compressed frame.
#[derive(Debug)]
pub(crate) struct Packet {
    pub(crate) data: Vec<u8>,
    pub(crate) keyframe: bool,
}

/// One decoded picture, tight I420.
#[derive(Debug)]
pub(crate) struct Picture {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) i420: Vec<u8>,
}

/// Failure reported by libvpx, with its message.
#[derive(Debug)]
pub(crate) struct VpxError(pub(crate) String);

/// Copies a C string from libvpx (static or context-owned), if any.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string valid for this call.
unsafe fn c_text(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        // SAFETY: non-null and NUL-terminated per the caller's contract.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}

/// libvpx's text for a bare error code (static strings; safe on any code).
fn code_text(err: sys::vpx_codec_err_t) -> String {
    // SAFETY: vpx_codec_err_to_string returns a static string for every code.
    unsafe { c_text(sys::vpx_codec_err_to_string(err)) }.unwrap_or_else(|| format!("{err:?}"))
}

/// The last error of an initialised context, with libvpx's detail when it gives one.
fn context_error(ctx: &mut sys::vpx_codec_ctx_t) -> VpxError {
    // SAFETY: ctx is an initialised context; both calls return null or strings owned by
    // libvpx that stay valid until the next call on the context, and are copied at once.
    let (msg, detail) = unsafe {
        (
            c_text(sys::vpx_codec_error(ctx)),
            c_text(sys::vpx_codec_error_detail(ctx)),
        )
    };
    let msg = msg.unwrap_or_else(|| "unknown libvpx error".into());
    VpxError(match detail {
        Some(d) if !d.is_empty() => format!("{msg} ({d})"),
        _ => msg,
    })
}

/// A context zeroed for `*_init_ver`.
fn zeroed_context() -> Box<sys::vpx_codec_ctx_t> {
    // SAFETY: every field of vpx_codec_ctx_t is a pointer, an integer, a union of pointers
    // or `vpx_codec_err_t`, whose zero is VPX_CODEC_OK: all-zero is a valid value.
    Box::new(unsafe { MaybeUninit::<sys::vpx_codec_ctx_t>::zeroed().assume_init() })
}

/// Tight I420 length of an even-sized frame.
fn i420_len(width: u32, height: u32) -> usize {
    let (w, h) = (width as usize, height as usize);
    w * h + 2 * (w.div_ceil(2) * h.div_ceil(2))
}

/// A VP8 encoder.
pub(crate) struct Vp8Encoder {
    ctx: Box<sys::vpx_codec_ctx_t>,
    cfg: Box<sys::vpx_codec_enc_cfg_t>,
    width: u32,
    height: u32,
}

// SAFETY: a libvpx context has no thread affinity; it is only used through `&mut self`, so
// it is never touched by two threads at once.
unsafe impl Send for Vp8Encoder {}

impl std::fmt::Debug for Vp8Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vp8Encoder")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bitrate_kbps", &self.cfg.rc_target_bitrate)
            .finish()
    }
}

/// Real-time VP8 settings, as WebRTC's libvpx encoder uses them: speed over quality
/// (cpu-used -6), one token partition, static-block skipping on, denoiser off (it costs time
/// and blurs), and keyframes capped to a few frames' worth of bits so that they do not
/// flood the link.
///
/// Screen content adds libvpx's screen-content mode: it spends bits on sharp edges and
/// static areas (text) rather than on motion.
fn realtime_controls(fps: u32, screen: bool) -> [(sys::vp8e_enc_control_id, c_int); 6] {
    use sys::vp8e_enc_control_id::*;
    // WebRTC's cap: half the optimal buffer (600 ms) in per-frame budgets, at least 300 %.
    let max_intra_pct = (fps.saturating_mul(30)).max(300).min(i32::MAX as u32) as c_int;
    [
        (VP8E_SET_CPUUSED, -6),
        (VP8E_SET_NOISE_SENSITIVITY, 0),
        (VP8E_SET_STATIC_THRESHOLD, 1),
        (VP8E_SET_TOKEN_PARTITIONS, 0),
        (VP8E_SET_MAX_INTRA_BITRATE_PCT, max_intra_pct),
        (VP8E_SET_SCREEN_CONTENT_MODE, c_int::from(screen)),
    ]
}

impl Vp8Encoder {
    /// A real-time CBR encoder. `settings` must have even, non-zero sizes and fps >= 1
    /// (checked by the caller; libvpx rejects the rest).
    pub(crate) fn new(s: Vp8Settings) -> Result<Vp8Encoder, VpxError> {
        // SAFETY: vpx_codec_vp8_cx returns a pointer to a static interface.
        let iface = unsafe { sys::vpx_codec_vp8_cx() };
        let mut cfg = MaybeUninit::<sys::vpx_codec_enc_cfg_t>::uninit();
        // SAFETY: libvpx writes the whole default configuration into `cfg`.
        let err = unsafe { sys::vpx_codec_enc_config_default(iface, cfg.as_mut_ptr(), 0) };
        if err != sys::VPX_CODEC_OK {
            return Err(VpxError(code_text(err)));
        }
        // SAFETY: initialised by the successful call above.
        let mut cfg = Box::new(unsafe { cfg.assume_init() });
        cfg.g_w = s.width;
        cfg.g_h = s.height;
        // One tick per frame: the caller numbers frames.
        cfg.g_timebase = sys::vpx_rational {
            num: 1,
            den: s.fps.min(i32::MAX as u32) as c_int,
        };
        cfg.g_threads = s.threads;
        cfg.g_error_resilient = sys::VPX_ERROR_RESILIENT_DEFAULT;
        cfg.g_pass = sys::vpx_enc_pass::VPX_RC_ONE_PASS;
        cfg.g_lag_in_frames = 0; // no look-ahead: each frame comes out as it goes in
        cfg.rc_end_usage = sys::vpx_rc_mode::VPX_CBR;
        cfg.rc_target_bitrate = s.bitrate_kbps;
        cfg.rc_min_quantizer = 2;
        cfg.rc_max_quantizer = 56;
        cfg.rc_undershoot_pct = 100;
        cfg.rc_overshoot_pct = 15;
        cfg.rc_buf_initial_sz = 500;
        cfg.rc_buf_optimal_sz = 600;
        cfg.rc_buf_sz = 1000;
        // Every frame in gives a frame out: the caller already drops frames (pacing, the
        // filter's deadline), and one-in-one-out keeps RTP timestamps trivial.
        cfg.rc_dropframe_thresh = 0;
        cfg.rc_resize_allowed = 0;
        cfg.kf_mode = sys::vpx_kf_mode::VPX_KF_AUTO;
        cfg.kf_min_dist = 0;
        cfg.kf_max_dist = s.keyframe_max_dist;

        let mut ctx = zeroed_context();
        // SAFETY: ctx is zeroed and boxed (stable address), cfg is a complete configuration.
        // On failure libvpx destroys the context itself, so it is not wrapped (no Drop).
        let err = unsafe {
            sys::vpx_codec_enc_init_ver(
                &mut *ctx,
                iface,
                &*cfg,
                0,
                sys::VPX_ENCODER_ABI_VERSION as c_int,
            )
        };
        if err != sys::VPX_CODEC_OK {
            return Err(VpxError(code_text(err)));
        }
        let mut encoder = Vp8Encoder {
            ctx,
            cfg,
            width: s.width,
            height: s.height,
        };
        for (id, value) in realtime_controls(s.fps, s.screen_content) {
            // SAFETY: initialised context; each of these VP8 controls takes one int.
            let err = unsafe { sys::vpx_codec_control_(&mut *encoder.ctx, id as c_int, value) };
            if err != sys::VPX_CODEC_OK {
                return Err(context_error(&mut encoder.ctx));
            }
        }
        Ok(encoder)
    }

    /// Changes the target bitrate of the running encoder (no keyframe is forced).
    pub(crate) fn set_bitrate(&mut self, kbps: u32) -> Result<(), VpxError> {
        let old = self.cfg.rc_target_bitrate;
        self.cfg.rc_target_bitrate = kbps;
        // SAFETY: initialised context; libvpx copies the configuration.
        let err = unsafe { sys::vpx_codec_enc_config_set(&mut *self.ctx, &*self.cfg) };
        if err != sys::VPX_CODEC_OK {
            self.cfg.rc_target_bitrate = old;
            return Err(context_error(&mut self.ctx));
        }
        Ok(())
    }

    /// Encodes one tight I420 frame of the configured size, shown at `pts` (in frames).
    pub(crate) fn encode(
        &mut self,
        i420: &mut [u8],
        pts: i64,
        force_keyframe: bool,
    ) -> Result<Vec<Packet>, VpxError> {
        if i420.len() != i420_len(self.width, self.height) {
            return Err(VpxError(format!(
                "input is {} bytes, a {}x{} I420 frame is {}",
                i420.len(),
                self.width,
                self.height,
                i420_len(self.width, self.height)
            )));
        }
        // SAFETY: zero is valid for every field of vpx_image_t (pointers, integers, and enums
        // whose zero variants exist: VPX_IMG_FMT_NONE, VPX_CS_UNKNOWN, VPX_CR_STUDIO_RANGE).
        let mut img = unsafe { MaybeUninit::<sys::vpx_image_t>::zeroed().assume_init() };
        // SAFETY: `i420` holds exactly one even-sized tight I420 frame, which is the layout
        // vpx_img_wrap computes for stride alignment 1 (Y stride = width, U/V = width / 2).
        // The image only borrows the buffer, and only for this call; the encoder reads it.
        let wrapped = unsafe {
            sys::vpx_img_wrap(
                &mut img,
                sys::vpx_img_fmt::VPX_IMG_FMT_I420,
                self.width as c_uint,
                self.height as c_uint,
                1,
                i420.as_mut_ptr(),
            )
        };
        if wrapped.is_null() {
            return Err(VpxError("cannot wrap the input frame".into()));
        }
        let flags = if force_keyframe {
            sys::VPX_EFLAG_FORCE_KF as sys::vpx_enc_frame_flags_t
        } else {
            0
        };
        // SAFETY: initialised context, valid image; libvpx does not keep the image.
        let err = unsafe {
            sys::vpx_codec_encode(
                &mut *self.ctx,
                &img,
                pts,
                1,
                flags,
                sys::VPX_DL_REALTIME as c_ulong,
            )
        };
        if err != sys::VPX_CODEC_OK {
            return Err(context_error(&mut self.ctx));
        }
        let mut packets = Vec::new();
        let mut iter: sys::vpx_codec_iter_t = ptr::null();
        loop {
            // SAFETY: initialised context; `iter` starts null and is only advanced by libvpx.
            let pkt = unsafe { sys::vpx_codec_get_cx_data(&mut *self.ctx, &mut iter) };
            if pkt.is_null() {
                break;
            }
            // SAFETY: `pkt` is valid until the next call on the context. The kind is read as
            // an integer; the `frame` member of the union is only read for frame packets,
            // and its buffer holds `sz` bytes, copied at once.
            unsafe {
                let kind = ptr::addr_of!((*pkt).kind).cast::<u32>().read();
                if kind != sys::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT as u32 {
                    continue;
                }
                let frame = (*pkt).data.frame;
                if frame.buf.is_null() || frame.sz == 0 {
                    continue;
                }
                let data = std::slice::from_raw_parts(frame.buf.cast::<u8>(), frame.sz as usize);
                packets.push(Packet {
                    data: data.to_vec(),
                    keyframe: frame.flags & sys::VPX_FRAME_IS_KEY != 0,
                });
            }
        }
        Ok(packets)
    }
}

impl Drop for Vp8Encoder {
    fn drop(&mut self) {
        // SAFETY: the context was initialised (only then is a Vp8Encoder built) and is
        // destroyed once. A failure here can only leak, so it is ignored.
        unsafe {
            sys::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

/// A VP8 decoder.
pub(crate) struct Vp8Decoder {
    ctx: Box<sys::vpx_codec_ctx_t>,
}

// SAFETY: as for the encoder: no thread affinity, used only through `&mut self`.
unsafe impl Send for Vp8Decoder {}

impl std::fmt::Debug for Vp8Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vp8Decoder").finish_non_exhaustive()
    }
}

impl Vp8Decoder {
    /// A single-threaded decoder.
    pub(crate) fn new() -> Result<Vp8Decoder, VpxError> {
        let cfg = sys::vpx_codec_dec_cfg_t {
            threads: 1,
            w: 0,
            h: 0,
        };
        let mut ctx = zeroed_context();
        // SAFETY: zeroed boxed context, static interface, complete configuration. On failure
        // libvpx destroys the context itself.
        let err = unsafe {
            sys::vpx_codec_dec_init_ver(
                &mut *ctx,
                sys::vpx_codec_vp8_dx(),
                &cfg,
                0,
                sys::VPX_DECODER_ABI_VERSION as c_int,
            )
        };
        if err != sys::VPX_CODEC_OK {
            return Err(VpxError(code_text(err)));
        }
        Ok(Vp8Decoder { ctx })
    }

    /// Decodes one compressed frame (non-empty, at most `u32::MAX` bytes: checked here).
    /// Pictures larger than `max_dimension` on a side are refused.
    pub(crate) fn decode(
        &mut self,
        data: &[u8],
        max_dimension: u32,
    ) -> Result<Vec<Picture>, VpxError> {
        let len = match c_uint::try_from(data.len()) {
            Ok(0) => return Err(VpxError("empty input".into())),
            Ok(len) => len,
            Err(_) => return Err(VpxError("input larger than 4 GiB".into())),
        };
        // SAFETY: initialised context; `data` is valid for `len` bytes during the call and
        // libvpx does not keep it (no frame-threading, no input fragments).
        let err = unsafe {
            sys::vpx_codec_decode(
                &mut *self.ctx,
                data.as_ptr(),
                len,
                ptr::null_mut(),
                0 as c_long,
            )
        };
        if err != sys::VPX_CODEC_OK {
            return Err(context_error(&mut self.ctx));
        }
        let mut pictures = Vec::new();
        let mut iter: sys::vpx_codec_iter_t = ptr::null();
        loop {
            // SAFETY: initialised context; `iter` is only advanced by libvpx.
            let img = unsafe { sys::vpx_codec_get_frame(&mut *self.ctx, &mut iter) };
            if img.is_null() {
                break;
            }
            // SAFETY: `img` is valid until the next decode call on the context.
            pictures.push(unsafe { copy_picture(img, max_dimension) }?);
        }
        Ok(pictures)
    }
}

/// Copies a decoded image into a tight I420 buffer, checking its layout first.
///
/// # Safety
/// `img` points to an image returned by `vpx_codec_get_frame`, valid for this call.
unsafe fn copy_picture(
    img: *const sys::vpx_image_t,
    max_dimension: u32,
) -> Result<Picture, VpxError> {
    // SAFETY (whole function): fields are read through the valid `img`; `fmt` as an integer.
    let (fmt, w, h, xs, ys, planes, strides) = unsafe {
        (
            ptr::addr_of!((*img).fmt).cast::<u32>().read(),
            (*img).d_w,
            (*img).d_h,
            (*img).x_chroma_shift,
            (*img).y_chroma_shift,
            (*img).planes,
            (*img).stride,
        )
    };
    if fmt != sys::vpx_img_fmt::VPX_IMG_FMT_I420 as u32 || (xs, ys) != (1, 1) {
        return Err(VpxError(format!("unexpected picture format {fmt:#x}")));
    }
    if w == 0 || h == 0 || w > max_dimension || h > max_dimension {
        return Err(VpxError(format!("unusable picture size {w}x{h}")));
    }
    let (w, h) = (w as usize, h as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut out = Vec::with_capacity(w * h + 2 * cw * ch);
    for (plane, (pw, ph)) in [(w, h), (cw, ch), (cw, ch)].into_iter().enumerate() {
        let base = planes[plane];
        let stride = usize::try_from(strides[plane]).unwrap_or(0);
        if base.is_null() || stride < pw {
            return Err(VpxError(format!("unexpected layout of plane {plane}")));
        }
        for row in 0..ph {
            // SAFETY: libvpx's plane holds `ph` rows of `stride >= pw` bytes each.
            out.extend_from_slice(unsafe {
                std::slice::from_raw_parts(base.add(row * stride).cast_const(), pw)
            });
        }
    }
    Ok(Picture {
        width: w as u32,
        height: h as u32,
        i420: out,
    })
}

impl Drop for Vp8Decoder {
    fn drop(&mut self) {
        // SAFETY: initialised context (only then is a Vp8Decoder built), destroyed once.
        unsafe {
            sys::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}
