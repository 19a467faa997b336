//! Video: devices and the codec.
