//! Human blackout (being written).
