#!/usr/bin/env python3
"""Build the issue-13 evaluation set: real photographs and one real video clip with people,
from Debian's ``opencv-doc`` package, with hand-marked person regions.

Ground truth is never a candidate model's output. Photographs: each person is marked by
hand (``PERSONS`` below, pixel coordinates read off the image), as a polygon (``basketball1``,
grey, so GrabCut has no colour to use) or as a box inside which GrabCut (a classical
colour-model graph cut, seeded only by the hand box) cuts the outline, with hand fixes.
Video frames (fixed camera): each moving component of OpenCV's MOG2 background subtractor
is a person box (every one checked by eye on an overlay), and the person is the moving
pixels united with GrabCut in that box: semi-automatic, no learned model. The outline is then widened by 2 px, so the truth errs toward
"person" (which makes leakage harder to pass, never easier). Regions that cannot be marked
person by person (the blurred crowd of ``messi5``) are marked "ignore": they count neither
as person nor as background.

Label images (``evaldata/<name>.truth.png``, 8-bit grey): 0 background, k = 1..N person k
(in the order of ``PERSONS``), 255 ignore. ``<name>.png`` is the photograph (RGB).

Derived images: ``*_dark`` and ``*_bright`` are the same photograph with its exposure
changed (gain 0.3 and gamma 0.5), same truth, for dark and bright scenes.

The video clip (``vtest.avi``, 768x576, 10 fps, 795 frames) is stored as JPEG frames (q 80) at
384x288 (``evaldata/vtest/NNNN.jpg``, so the Rust side needs no video decoder), with the
entries of people into the frame in ``evaldata/vtest_entries.csv``: a MOG2 component that
touches the frame edge and overlaps no edge component of the frame before is an entry; it
is followed (largest overlap) for up to 20 frames. Each row: entry, frame, box (x0, y0, x1,
y1 in 384x288 pixels). The entries were checked by eye on a contact sheet.

Usage: ``python make_evaldata.py`` (needs apt-get download, numpy, opencv-python-headless).
"""
from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

DEB = "opencv-doc"
DEB_VERSION = "4.6.0+dfsg-12"
DEB_SHA256 = "4b12681df35878207ac7097dc66184b2ae552e4bf4ddd2af04a0f03ed0b8682a"
DATA = "usr/share/doc/opencv-doc/examples/data"
HERE = Path(__file__).resolve().parent
OUT = HERE / "evaldata"

# Hand-marked person boxes (x0, y0, x1, y1) per photograph; "ignore" boxes after them.
PERSONS = {
    "basketball1": {
        "src": "basketball1.png",
        # Grey image: GrabCut has no colour to work with, so both outlines are polygons.
        "persons": [
            [(62, 85), (80, 78), (98, 88), (104, 112), (100, 135), (118, 145), (140, 140),
             (158, 148), (160, 162), (150, 170), (140, 200), (130, 215), (130, 290),
             (135, 330), (132, 380), (128, 440), (138, 452), (155, 462), (150, 474),
             (110, 474), (100, 470), (92, 420), (88, 360), (80, 400), (78, 440), (80, 480),
             (45, 480), (45, 440), (45, 380), (40, 300), (38, 250), (36, 200), (36, 160),
             (50, 140), (60, 135), (58, 110)],
            [(515, 40), (545, 22), (590, 28), (610, 60), (605, 110), (600, 125), (625, 140),
             (640, 150), (640, 480), (480, 480), (482, 430), (495, 380), (498, 330),
             (470, 300), (448, 270), (436, 245), (440, 225), (460, 222), (470, 205),
             (490, 200), (515, 180), (530, 135), (518, 110), (510, 80)],
        ],
        "ignore": [],
    },
    "messi5": {
        "src": "messi5.jpg",
        # GrabCut in the box, plus the head (dark hair on a dark crowd: GrabCut drops it),
        # minus grass (green) and the broadcaster's logo that GrabCut takes in.
        "persons": [(62, 58, 462, 338)],
        "add": [[(210, 80), (220, 62), (245, 58), (262, 68), (266, 90), (258, 108), (240, 115),
                 (222, 110), (212, 98)]],
        "remove_green": True,
        "remove": [(440, 295, 548, 342)],
        # The blurred spectators (and a blurred player) fill the stands: too many to mark
        # one by one.
        "ignore": [(0, 0, 548, 262)],
    },
}
NO_PERSONS = {
    "fruits": "fruits.jpg",
    "home": "home.jpg",  # birds in the sky
    "baboon": "baboon.jpg",
    "butterfly": "butterfly.jpg",
    "building": "building.jpg",
}
VTEST_FRAMES = [150, 450, 700]
VIDEO_SIZE = (384, 288)


def fetch(tmp: Path) -> Path:
    subprocess.run(["apt-get", "download", f"{DEB}={DEB_VERSION}"], cwd=tmp, check=True)
    deb = next(tmp.glob(f"{DEB}_*.deb"))
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    print(f"{deb.name} sha256 {digest}")
    if DEB_SHA256 and digest != DEB_SHA256:
        sys.exit("sha256 mismatch")
    root = tmp / "x"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root / DATA


def grabcut(img: np.ndarray, box) -> np.ndarray:
    x0, y0, x1, y1 = box
    h, w = img.shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    mask = np.zeros((h, w), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(img, mask, (x0, y0, x1 - x0, y1 - y0), bgd, fgd, 6, cv2.GC_INIT_WITH_RECT)
    out = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    # Keep only the part inside the hand box.
    keep = np.zeros_like(out)
    keep[y0:y1, x0:x1] = 1
    return out & keep


def polygon(shape, points) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.array(points, np.int32)], 1)
    return m


def label_image(img, persons, ignore, extra=None, spec=None) -> np.ndarray:
    spec = spec or {}
    h, w = img.shape[:2]
    labels = np.zeros((h, w), np.uint8)
    for x0, y0, x1, y1 in ignore:
        labels[max(0, y0):y1, max(0, x0):x1] = 255
    for k, box in enumerate(persons, start=1):
        if len(box) != 4 or not isinstance(box[0], int):
            # A hand-drawn outline: used as it is (widened below like the others).
            m = polygon(img.shape, box)
            ys, xs = np.nonzero(m)
            box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            labels[cv2.dilate(m, np.ones((5, 5), np.uint8)) > 0] = k
            continue
        m = grabcut(img, box)
        for pts in spec.get("add", []):
            m |= polygon(img.shape, pts)
        if spec.get("remove_green"):
            b, g, r = (img[..., i].astype(np.int16) for i in range(3))
            m[(g > r + 15) & (g > b + 15)] = 0
        for x0, y0, x1, y1 in spec.get("remove", []):
            m[y0:y1, x0:x1] = 0
        if extra is not None:
            x0, y0, x1, y1 = box
            e = np.zeros_like(m)
            e[y0:y1, x0:x1] = extra[y0:y1, x0:x1]
            m |= e
        m = cv2.dilate(m, np.ones((5, 5), np.uint8))
        x0, y0, x1, y1 = box
        clip = np.zeros_like(m)
        clip[max(0, y0 - 2):y1 + 2, max(0, x0 - 2):x1 + 2] = 1
        labels[(m & clip) > 0] = k
    return labels


def save(name: str, img: np.ndarray, labels: np.ndarray) -> None:
    cv2.imwrite(str(OUT / f"{name}.png"), img)
    cv2.imwrite(str(OUT / f"{name}.truth.png"), labels)
    # Overlay for checking by eye (not committed).
    vis = img.copy()
    vis[(labels > 0) & (labels < 255)] = (0.5 * vis[(labels > 0) & (labels < 255)] + [0, 0, 127]).astype(np.uint8)
    vis[labels == 255] = (0.5 * vis[labels == 255]).astype(np.uint8)
    cv2.imwrite(f"/tmp/overlay_{name}.png", vis)


def mog_foreground(data: Path):
    """Per-frame MOG2 foreground of vtest.avi (shadows excluded), cleaned, and the frames."""
    cap = cv2.VideoCapture(str(data / "vtest.avi"))
    mog = cv2.createBackgroundSubtractorMOG2(history=300, varThreshold=25, detectShadows=True)
    frames, fgs = [], []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        fg = (mog.apply(f) == 255).astype(np.uint8)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
        frames.append(f)
        fgs.append(fg)
    return frames, fgs


def components(fg, min_area=60):
    n, _, st, _ = cv2.connectedComponentsWithStats(fg)
    return [tuple(int(v) for v in st[k][:4]) for k in range(1, n) if st[k][4] >= min_area]


def overlap(a, b, pad=4):
    return not (a[2] + pad < b[0] or b[2] + pad < a[0] or a[3] + pad < b[1] or b[3] + pad < a[1])


def entries(fgs, follow=20, edge=3):
    """Entries of moving things into the frame: (entry, frame, box) in full resolution."""
    h, w = fgs[0].shape
    boxes = [[(x, y, x + bw, y + bh) for x, y, bw, bh in components(fg, 80)] for fg in fgs]
    at_edge = lambda b: b[0] <= edge or b[1] <= edge or b[2] >= w - edge or b[3] >= h - edge
    rows, n = [], 0
    for f in range(1, len(fgs)):
        for b in boxes[f]:
            if not at_edge(b) or any(overlap(b, p) for p in boxes[f - 1]):
                continue
            n += 1
            cur = b
            for g in range(f, min(len(fgs), f + follow)):
                if g > f:
                    nxt = [c for c in boxes[g] if overlap(c, cur)]
                    if not nxt:
                        break
                    cur = max(nxt, key=lambda c: (c[2] - c[0]) * (c[3] - c[1]))
                rows.append((n, g, cur))
    return rows


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = fetch(Path(tmp))
        for name, spec in PERSONS.items():
            img = cv2.imread(str(data / spec["src"]), cv2.IMREAD_COLOR)
            labels = label_image(img, spec["persons"], spec["ignore"], spec=spec)
            save(name, img, labels)
            if name == "basketball1":
                dark = np.clip(img.astype(np.float32) * 0.3, 0, 255).astype(np.uint8)
                save(name + "_dark", dark, labels)
        for name, src in NO_PERSONS.items():
            img = cv2.imread(str(data / src), cv2.IMREAD_COLOR)
            save(name, img, np.zeros(img.shape[:2], np.uint8))
        frames, fgs = mog_foreground(data)
        for i in VTEST_FRAMES:
            boxes = [(x - 3, y - 3, x + w + 3, y + h + 3) for x, y, w, h in components(fgs[i])]
            # Components of under 100 px at the top edge are too small to be checked by eye
            # (a head behind a car, or noise): ignore.
            persons = [b for b in boxes if (b[2] - b[0]) * (b[3] - b[1]) >= 250]
            ignore = [b for b in boxes if (b[2] - b[0]) * (b[3] - b[1]) < 250]
            labels = label_image(frames[i], persons, ignore, extra=fgs[i])
            save(f"vtest{i}", frames[i], labels)
            if i == 450:
                bright = (255.0 * (frames[i] / 255.0) ** 0.5).astype(np.uint8)
                save(f"vtest{i}_bright", bright, labels)
        clip = OUT / "vtest"
        clip.mkdir(exist_ok=True)
        for i, f in enumerate(frames):
            small = cv2.resize(f, VIDEO_SIZE, interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(clip / f"{i:04d}.jpg"), small, [cv2.IMWRITE_JPEG_QUALITY, 80])
        with open(OUT / "vtest_entries.csv", "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["entry", "frame", "x0", "y0", "x1", "y1"])
            for n, g, (x0, y0, x1, y1) in entries(fgs):
                out.writerow([n, g, x0 // 2, y0 // 2, (x1 + 1) // 2, (y1 + 1) // 2])
        # Contact sheet of each entry's first frame, for checking by eye (not committed).
        sheet = []
        for n, g, b in entries(fgs):
            if not sheet or sheet[-1][0] != n:
                crop = frames[g][max(0, b[1] - 20):b[3] + 20, max(0, b[0] - 20):b[2] + 20]
                sheet.append((n, cv2.resize(crop, (96, 128))))
        if sheet:
            tiles = [cv2.putText(t.copy(), str(n), (2, 12), 0, 0.4, (0, 0, 255), 1) for n, t in sheet]
            while len(tiles) % 10:
                tiles.append(np.zeros_like(tiles[0]))
            grid = np.vstack([np.hstack(tiles[i:i + 10]) for i in range(0, len(tiles), 10)])
            cv2.imwrite("/tmp/entries_sheet.png", grid)


if __name__ == "__main__":
    main()
