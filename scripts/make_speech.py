#!/usr/bin/env python3
"""Speech for the quality bench: espeak-ng's WAV (22.05 kHz) resampled to 48 kHz mono
s16le, framed by 300 ms of silence so the looped clip never joins two words, peak at
-3 dBFS. Usage: make_speech.py IN.wav OUT.s16"""
import sys

import numpy as np
import soundfile
from scipy.signal import resample_poly

if len(sys.argv) != 3:
    sys.exit(__doc__)
samples, rate = soundfile.read(sys.argv[1], dtype="float64")
if samples.ndim > 1:
    samples = samples.mean(axis=1)
samples = resample_poly(samples, 48000, rate)
gap = np.zeros(int(0.3 * 48000))
samples = np.concatenate([gap, samples, gap])
samples *= 10 ** (-3 / 20) / max(np.max(np.abs(samples)), 1e-9)
(samples * 32767).round().astype("<i2").tofile(sys.argv[2])
print(f"speech: {len(samples) / 48000:.1f} s")
