//! Audio: devices, Opus, playout buffer, tone detection.
