#!/usr/bin/env python3
"""Writes the built-in evaluation dataset, assets/eval/builtin/: builtin.jsonl and the images and
videos it asks about (flat shapes on plain backgrounds, so every answer is known by construction).
README.md beside this script describes the tasks and the file format.

    python assets/eval/make_builtin.py [--out DIR]     # regenerate (default assets/eval/builtin)
    python assets/eval/make_builtin.py --check DIR     # regenerate into a temporary folder and
                                                       # compare with DIR; exit 1 on a difference

Deterministic: each task draws from its own fixed seed; shapes are hard-edged numpy masks; PNGs
are written by the pinned Pillow; videos are lossless H.264 of YUV 4:2:0 frames converted here, so
their decoded frames are these bytes whatever x264 or swscale a machine has (--check compares
videos by decoded frames and everything else byte for byte). Needs numpy, Pillow and the ffmpeg
CLI with libx264; without them --check exits 77, which CTest reports as skipped.
"""
import argparse
import filecmp
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SKIP = 77  # CTest's SKIP_RETURN_CODE for this test
try:
    import numpy as np
    from PIL import Image
except ImportError as e:
    print(f"skipped: {e.name} is not installed", file=sys.stderr)
    sys.exit(SKIP)

SIZE = 224  # small, and whole merged patches for Qwen3-VL (7 x 7 of 32 px), so no resizing blurs an edge
FPS = 4
LETTERS = "ABCD"

# Saturated colours whose names no model can dispute; the background each task uses is not among them.
COLOURS = {
    "red": (230, 25, 25),
    "green": (30, 160, 40),
    "blue": (30, 60, 225),
    "yellow": (250, 220, 20),
    "purple": (130, 40, 170),
    "orange": (250, 130, 0),
    "black": (0, 0, 0),
    "white": (255, 255, 255),
}
WHITE_BG = (255, 255, 255)
GREY_BG = (128, 128, 128)  # for the colour task, where both black and white shapes must show
ON_WHITE = [c for c in COLOURS if c not in ("white", "yellow")]  # yellow on white is too faint to count

# Radius of the circle around each shape, for spacing: a square of half side 0.85 r reaches
# 1.2 r at its corners, a triangle is drawn in a circle of 1.3 r.
EXTENT = {"circle": 1.0, "square": 1.2, "triangle": 1.3}
SHAPES = list(EXTENT)


def shape_mask(shape: str, cx: float, cy: float, r: float) -> "np.ndarray":
    """Pixels whose centres lie inside the shape; hard edges so that no rounding differs anywhere."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) + 0.5
    if shape == "circle":
        return (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    if shape == "square":
        h = 0.85 * r
        return (np.abs(x - cx) <= h) & (np.abs(y - cy) <= h)
    if shape == "triangle":  # equilateral, pointing up, inscribed in a circle of 1.3 r
        R = 1.3 * r
        vertices = [(cx, cy - R), (cx + R * 0.8660254, cy + R / 2), (cx - R * 0.8660254, cy + R / 2)]
        inside = np.ones_like(x, dtype=bool)
        for (x0, y0), (x1, y1) in zip(vertices, vertices[1:] + vertices[:1]):
            inside &= (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0) >= 0
        return inside
    raise ValueError(shape)


def canvas(background) -> "np.ndarray":
    return np.broadcast_to(np.array(background, np.uint8), (SIZE, SIZE, 3)).copy()


def draw(image: "np.ndarray", shape: str, colour: str, cx: float, cy: float, r: float) -> None:
    image[shape_mask(shape, cx, cy, r)] = COLOURS[colour]


def place(rng, objects, margin=6.0, gap=8.0):
    """Centres for shapes of the given (shape, radius) so that none touches another or the border."""
    for _ in range(10000):
        centres = []
        for shape, r in objects:
            e = EXTENT[shape] * r
            for _ in range(200):
                c = rng.uniform(e + margin, SIZE - e - margin, size=2)
                if all(np.hypot(*(c - c2)) >= e + e2 + gap for c2, e2 in centres):
                    centres.append((c, e))
                    break
            else:
                break
        if len(centres) == len(objects):
            return [tuple(c) for c, _ in centres]
    raise RuntimeError("no placement found")  # unreachable with the sizes used here


def balanced_letters(rng, n: int) -> list:
    """Answer positions for n questions: every letter equally often (± 1), in random order."""
    positions = np.tile(np.arange(len(LETTERS)), -(-n // len(LETTERS)))[:n]
    return [int(p) for p in rng.permutation(positions)]


def mcq(rng, correct: str, distractors: list, position: int):
    """Choices with the correct one at `position` and three distractors in random order around it."""
    picked = [distractors[i] for i in rng.choice(len(distractors), size=len(LETTERS) - 1, replace=False)]
    choices = picked[:position] + [correct] + picked[position:]
    return choices, LETTERS[position]


class Writer:
    """Collects samples; media are written as they come, builtin.jsonl at the end."""

    def __init__(self, out: Path):
        self.out = out
        self.samples = []
        for sub in ("images", "videos"):
            (out / sub).mkdir(parents=True, exist_ok=True)

    def image(self, sample_id: str, pixels: "np.ndarray") -> str:
        rel = f"images/{sample_id}.png"
        Image.fromarray(pixels, "RGB").save(self.out / rel, format="PNG")
        return rel

    def video(self, sample_id: str, frames: list) -> str:
        rel = f"videos/{sample_id}.mp4"
        encode_video(self.out / rel, frames)
        return rel

    def add(self, sample_id, task, question, media_key, media, answer, choices=None):
        sample = {"id": sample_id, "task": task, "question": question, media_key: [media]}
        if choices is not None:
            sample["choices"] = choices
        sample["answer"] = answer
        self.samples.append(sample)

    def finish(self):
        with open(self.out / "builtin.jsonl", "w", encoding="utf-8", newline="\n") as f:
            for sample in self.samples:
                f.write(json.dumps(sample) + "\n")


# --- video -------------------------------------------------------------------------------------

def to_yuv420(rgb: "np.ndarray") -> bytes:
    """BT.601 limited range (what decoders assume for untagged SD video, and what the file is tagged
    with), chroma from each 2 x 2 block's mean colour. Converting here rather than in swscale makes
    the lossless stream's decoded bytes independent of the machine's FFmpeg."""
    rgb = rgb.astype(np.float64)

    def y_of(c):
        return 16 + 219 / 255 * (0.299 * c[..., 0] + 0.587 * c[..., 1] + 0.114 * c[..., 2])

    block = rgb.reshape(SIZE // 2, 2, SIZE // 2, 2, 3).mean(axis=(1, 3))
    cb = 128 + 224 / 255 * (-0.168736 * block[..., 0] - 0.331264 * block[..., 1] + 0.5 * block[..., 2])
    cr = 128 + 224 / 255 * (0.5 * block[..., 0] - 0.418688 * block[..., 1] - 0.081312 * block[..., 2])
    planes = [y_of(rgb), cb, cr]
    return b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in planes)


def ffmpeg(args: list, stdin: bytes = b"") -> bytes:
    done = subprocess.run(["ffmpeg", "-v", "error", "-y", *args], input=stdin, capture_output=True)
    if done.returncode != 0:
        sys.exit(f"ffmpeg {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def decode_yuv420(path: Path) -> bytes:
    return ffmpeg(["-i", str(path), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])


def encode_video(path: Path, frames: list) -> None:
    raw = b"".join(to_yuv420(f) for f in frames)
    # qp 0 is lossless; one thread and bitexact flags make the bytes repeatable with one libx264;
    # no metadata, so no dates or tool versions beyond x264's own SEI.
    ffmpeg(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{SIZE}x{SIZE}", "-r", str(FPS), "-i", "-",
            "-c:v", "libx264", "-qp", "0", "-preset", "veryslow", "-threads", "1", "-pix_fmt", "yuv420p",
            "-colorspace", "smpte170m", "-color_primaries", "smpte170m", "-color_trc", "smpte170m",
            "-color_range", "tv", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1",
            "-movflags", "+faststart", str(path)], stdin=raw)
    if decode_yuv420(path) != raw:
        sys.exit(f"{path}: the encoded video does not decode to its frames (not lossless)")


def describe(shape: str, colour: str) -> str:
    return f"the {colour} {shape}"


# --- tasks -------------------------------------------------------------------------------------

def count_shapes(w: Writer) -> None:
    rng = np.random.default_rng(1001)
    counts = list(range(1, 7)) + [int(n) for n in rng.integers(2, 7, size=4)]
    for i, n in enumerate(rng.permutation(counts), 1):
        objects = [(str(rng.choice(["circle", "square"])), float(rng.uniform(13, 20))) for _ in range(n)]
        image = canvas(WHITE_BG)
        for (shape, r), (cx, cy) in zip(objects, place(rng, objects)):
            draw(image, shape, str(rng.choice(ON_WHITE)), cx, cy, r)
        sid = f"count_shapes-{i:02d}"
        w.add(sid, "count_shapes", "How many shapes are in the image? Answer with a number.", "images",
              w.image(sid, image), str(n))


def colour(w: Writer) -> None:
    rng = np.random.default_rng(1002)
    names = list(COLOURS)
    colours = names + [str(c) for c in rng.choice(names, size=2, replace=False)]
    for i, (name, pos) in enumerate(zip(rng.permutation(colours), balanced_letters(rng, len(colours))), 1):
        name = str(name)
        shape, r = str(rng.choice(SHAPES)), float(rng.uniform(55, 70))
        image = canvas(GREY_BG)
        draw(image, shape, name, *rng.uniform(-12, 12, size=2) + SIZE / 2, r)
        choices, answer = mcq(rng, name, [c for c in names if c != name], pos)
        sid = f"colour-{i:02d}"
        w.add(sid, "colour", "What colour is the shape in the image?", "images", w.image(sid, image), answer, choices)


CELLS = [f"{row} {col}" for row in ("top", "middle", "bottom") for col in ("left", "middle", "right")]
CELLS[4] = "center"


def position(w: Writer) -> None:
    """A shape in one cell of a 3 x 3 grid. The distractors share neither row nor column with the
    answer, so no wrong choice is half right ("top middle" for a shape at the top left)."""
    rng = np.random.default_rng(1003)
    cells = list(range(9)) + [int(rng.integers(9))]
    cell_size = SIZE / 3
    for i, (cell, pos) in enumerate(zip(rng.permutation(cells), balanced_letters(rng, len(cells))), 1):
        row, col = divmod(int(cell), 3)
        shape, colour_name = str(rng.choice(SHAPES)), str(rng.choice(ON_WHITE))
        r = float(rng.uniform(16, 22))
        cx, cy = (np.array([col, row]) + 0.5) * cell_size + rng.uniform(-8, 8, size=2)
        image = canvas(WHITE_BG)
        draw(image, shape, colour_name, cx, cy, r)
        distractors = [CELLS[c] for c in range(9) if c // 3 != row and c % 3 != col]
        choices, answer = mcq(rng, CELLS[cell], distractors, pos)
        sid = f"position-{i:02d}"
        w.add(sid, "position", "Where in the image is the shape?", "images", w.image(sid, image), answer, choices)


def video_frames(rng, seconds: int, shows: dict) -> list:
    """Frames of a white video where shows[s] = (shape, colour) fills second s, each at its own place.
    Whole seconds keep each appearance in its own temporal patch pair when Qwen3-VL samples 2 fps:
    transformers takes frames np.linspace(0, n - 1, n / 2).round() of an n-frame 4 fps video, two
    in every second for the 16 and 20 frames used here."""
    radii = {s: float(rng.uniform(20, 28)) for s in shows}
    centres = dict(zip(shows, place(rng, [(shows[s][0], radii[s]) for s in shows], gap=16.0)))
    frames = []
    for s in range(seconds):
        frame = canvas(WHITE_BG)
        if s in shows:
            draw(frame, *shows[s], *centres[s], radii[s])
        frames.extend([frame] * FPS)
    return frames


def video_first(w: Writer) -> None:
    """Two shapes of different shape and colour, one second each with at least one empty second
    between them (4 s). The choices are both shapes and two in colours the video does not show."""
    rng = np.random.default_rng(1004)
    n = 10
    for i, pos in enumerate(balanced_letters(rng, n), 1):
        shapes = rng.choice(SHAPES, size=2, replace=False)
        colours = rng.choice(ON_WHITE, size=2, replace=False)
        first, second = (str(shapes[0]), str(colours[0])), (str(shapes[1]), str(colours[1]))
        start, end = [(0, 2), (0, 3), (1, 3)][int(rng.integers(3))]
        frames = video_frames(rng, 4, {start: first, end: second})
        unused = [str(c) for c in rng.choice([c for c in ON_WHITE if c not in colours], size=2, replace=False)]
        others = [describe(*second)] + [describe(str(rng.choice(SHAPES)), c) for c in unused]
        choices, answer = mcq(rng, describe(*first), others, pos)
        sid = f"video_first-{i:02d}"
        w.add(sid, "video_first", "Two shapes appear one after the other in this video. Which shape appeared first?",
              "videos", w.video(sid, frames), answer, choices)


def video_count(w: Writer) -> None:
    """k shapes (1..5) of k different colours, each shown for one whole second of a 5 s video and
    then gone, so the count must be remembered rather than read off the last frame (and no two
    look like one shape that moved); empty seconds fall at random."""
    rng = np.random.default_rng(1005)
    for i, k in enumerate(rng.permutation(list(range(1, 6)) * 2), 1):
        seconds = sorted(int(s) for s in rng.choice(5, size=int(k), replace=False))
        colours = [str(c) for c in rng.choice(ON_WHITE, size=int(k), replace=False)]
        frames = video_frames(rng, 5, {s: (str(rng.choice(SHAPES)), c) for s, c in zip(seconds, colours)})
        sid = f"video_count-{i:02d}"
        w.add(sid, "video_count", "Shapes appear one at a time in this video. How many shapes appeared in total? "
              "Answer with a number.", "videos", w.video(sid, frames), str(k))


TASKS = [count_shapes, colour, position, video_first, video_count]


def generate(out: Path) -> None:
    w = Writer(out)
    for task in TASKS:
        task(w)
    w.finish()


# --- check -------------------------------------------------------------------------------------

def files_under(root: Path) -> set:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def differences(expected: Path, actual: Path) -> list:
    """What differs between a fresh generation and the committed directory, one line each."""
    want, have = files_under(expected), files_under(actual)
    problems = [f"{f}: missing" for f in sorted(want - have)]
    problems += [f"{f}: not produced by the generator" for f in sorted(have - want)]
    for f in sorted(want & have):
        if f.endswith(".mp4"):
            if decode_yuv420(expected / f) != decode_yuv420(actual / f):
                problems.append(f"{f}: decoded frames differ")
        elif not filecmp.cmp(expected / f, actual / f, shallow=False):
            problems.append(f"{f}: bytes differ")
    return problems


def missing_encoder() -> str:
    """Why videos cannot be written here, or "" when they can."""
    if shutil.which("ffmpeg") is None:
        return "the ffmpeg CLI is not on PATH"
    if b" libx264 " not in ffmpeg(["-hide_banner", "-encoders"]):
        return "this ffmpeg has no libx264 encoder"
    return ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "builtin")
    group.add_argument("--check", type=Path, metavar="DIR")
    args = ap.parse_args()
    missing = missing_encoder()
    if missing:
        print(f"{'skipped: ' if args.check else ''}{missing}", file=sys.stderr)
        return SKIP if args.check else 1
    if args.check is None:
        for old in ("images", "videos"):  # stale media of an older generation must not linger
            shutil.rmtree(args.out / old, ignore_errors=True)
        generate(args.out)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        problems = differences(Path(tmp), args.check)
    for p in problems:
        print(f"{args.check}/{p}", file=sys.stderr)
    if problems:
        print("the committed dataset is not what make_builtin.py generates: regenerate it with "
              "`python assets/eval/make_builtin.py` and commit the result", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
