#!/usr/bin/env python3
"""Scores what the quality bench recorded: PESQ-WB (ITU-T P.862.2) and ViSQOL v3 (speech
mode) of each run against the speech clip, at 16 kHz. Usage: quality_score.py DIR

DIR holds ref.s16 (the clip Alice's microphone played, 48 kHz mono s16le), one
loss<L>_fec<on|off>_<call>.s16 per call (what Bob's speaker played: about two clip
lengths) and runs.tsv (the calls' own figures). Each recording is aligned to the clip by
cross-correlation, and the one whole clip found in it is scored; each setting's calls are
summed up by their median (and range).
"""
import csv
import os
import re
import sys

import numpy as np
from pesq import pesq
from scipy.signal import correlate, resample_poly
import visqol

RATE = 16000
TARGETS = {(0, "on"): 3.5, (10, "on"): 3.0}


def load(path):
    samples = np.fromfile(path, dtype="<i2").astype(np.float64) / 32768.0
    return resample_poly(samples, 1, 3)  # 48 kHz -> 16 kHz


def align(ref, heard):
    """The part of `heard` that lines up with `ref` best (same length), and the score of
    that alignment (normalised cross-correlation, 1 = identical shape)."""
    if len(heard) < len(ref):
        raise ValueError("recording shorter than the clip")
    corr = correlate(heard, ref, mode="valid", method="fft")
    lag = int(np.argmax(corr))
    part = heard[lag : lag + len(ref)]
    norm = np.linalg.norm(part) * np.linalg.norm(ref)
    return part, (corr[lag] / norm if norm > 0 else 0.0)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    ref = load(os.path.join(out, "ref.s16"))
    runs = {}
    with open(os.path.join(out, "runs.tsv")) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            runs[(int(row["loss_pct"]), row["fec"], int(row["run"]))] = row
    api = visqol.VisqolApi()
    api.create(mode="speech")
    scores = {}
    for name in os.listdir(out):
        m = re.fullmatch(r"loss(\d+)_fec(on|off)_(\d+)\.s16", name)
        if not m:
            continue
        loss, fec, run = int(m.group(1)), m.group(2), int(m.group(3))
        part, fit = align(ref, load(os.path.join(out, name)))
        score = pesq(RATE, ref, part, "wb")
        mos = api.measure_from_arrays(ref, part, RATE).moslqo
        row = runs.get((loss, fec, run), {})
        scores.setdefault((loss, fec), []).append(
            (score, mos, fit, int(row.get("concealed", 0)), int(row.get("recovered", 0)))
        )
    print(
        "| loss | FEC | calls | PESQ-WB median (min-max) | ViSQOL MOS median (min-max) "
        "| concealed | decoded from the next packet | target (PESQ-WB median) |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    missed = []
    for (loss, fec) in sorted(scores, key=lambda k: (k[0], k[1] == "off")):
        rows = scores[(loss, fec)]
        pesqs = [r[0] for r in rows]
        moses = [r[1] for r in rows]
        median = float(np.median(pesqs))
        target = TARGETS.get((loss, fec))
        verdict = ""
        if target is not None:
            verdict = f">= {target}: {'met' if median >= target else 'MISSED'}"
            if median < target:
                missed.append(f"{loss} % loss FEC {fec}")
        print(
            f"| {loss} % | {fec} | {len(rows)} | {median:.2f} ({min(pesqs):.2f}-{max(pesqs):.2f}) "
            f"| {np.median(moses):.2f} ({min(moses):.2f}-{max(moses):.2f}) "
            f"| {sum(r[3] for r in rows)} | {sum(r[4] for r in rows)} | {verdict} |"
        )
    if missed:
        print("targets missed: " + ", ".join(missed))


if __name__ == "__main__":
    main()
