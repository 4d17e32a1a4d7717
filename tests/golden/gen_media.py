#!/usr/bin/env python3
"""Images and videos, and the RGB frames transformers 4.57.1 hands the Qwen3-VL processor.

Images: transformers.image_utils.load_image (PIL open, exif_transpose, convert("RGB")), for PIL
modes RGB, RGBA, L, LA, P (with tRNS), 16-bit RGB and grey PNGs, odd sizes, and JPEGs carrying
each EXIF orientation 1-8.

Videos: 4.57.1's processor decodes with torchcodec, falling back to torchvision.io.read_video
(PyAV); the venv has neither torchcodec nor PyAV, so the reference is the ffmpeg CLI (same
libavcodec as the C++ decoder) decoding every frame to rgb24 with its default autorotation,
timestamps from ffprobe's best-effort frame timestamps and fps from the stream's average frame
rate (PyAV's average_rate, which torchvision reports as video_fps). The frame count is the number
of frames decoded (torchvision's len(video)).

Output: inputs/<case>.<ext> and expected.safetensors with one uint8 [T, H, W, 3] tensor per case,
and <case>.times (F64 [T]) and metadata <case>.fps for videos. bad/ holds the bad-input corpus.
"""
import argparse
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers.image_utils import load_image

INPUTS = []


def pattern(h, w, c, seed, dtype=np.uint8, high=256):
    return np.random.default_rng(seed).integers(0, high, size=(h, w, c) if c else (h, w), dtype=dtype)


def make_images(out: Path) -> dict:
    cases = {
        "rgb_odd.png": Image.fromarray(pattern(7, 13, 3, 1)),
        "rgba.png": Image.fromarray(pattern(9, 6, 4, 2), "RGBA"),
        "l.png": Image.fromarray(pattern(5, 11, 0, 3), "L"),
        "la.png": Image.fromarray(pattern(8, 3, 2, 4), "LA"),
        "one_pixel.png": Image.fromarray(pattern(1, 1, 3, 5)),
        "rgb.bmp": Image.fromarray(pattern(6, 5, 3, 6)),
    }
    p = Image.fromarray(pattern(10, 9, 0, 7, high=16), "P")
    p.putpalette(list(pattern(16, 3, 0, 8).reshape(-1)))
    p.info["transparency"] = 3
    cases["p_trns.png"] = p
    for name, img in cases.items():
        img.save(out / name)
    # 16-bit PNGs: grey through PIL (mode I;16); PIL cannot write the others, so raw chunks.
    Image.fromarray(pattern(6, 7, 0, 9, np.uint16, 65536)).save(out / "grey16.png")
    write_png16(out / "rgb16.png", pattern(5, 4, 3, 10, np.uint16, 65536))
    write_png16(out / "rgba16.png", pattern(3, 5, 4, 14, np.uint16, 65536))
    write_png16(out / "la16.png", pattern(4, 3, 2, 15, np.uint16, 65536))
    base = Image.fromarray(pattern(10, 16, 3, 11))
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        base.save(out / f"exif{orientation}.jpg", quality=90, exif=exif)
    return {name: np.asarray(load_image(str(out / name))) for name in sorted(p.name for p in out.iterdir())}


def write_png16(path: Path, pixels: np.ndarray) -> None:
    """A 16-bit PNG of grey+alpha (2 channels), RGB (3) or RGBA (4)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w, c = pixels.shape
    colour_type = {2: 4, 3: 2, 4: 6}[c]
    raw = b"".join(b"\0" + pixels[y].astype(">u2").tobytes() for y in range(h))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True)


def make_videos(out: Path) -> None:
    src = ["-f", "lavfi", "-i"]
    ffmpeg(*src, "testsrc2=size=64x48:rate=10", "-frames:v", 13, "-c:v", "ffv1", "-pix_fmt", "bgr0",
           out / "ffv1_rgb_13.mkv")
    ffmpeg(*src, "testsrc2=size=66x38:rate=25", "-frames:v", 21, "-c:v", "mpeg4", "-q:v", 3,
           out / "mpeg4_21.mp4")
    # Variable frame rate: frames 0-4 every 0.1 s, then every 0.3 s.
    ffmpeg(*src, "testsrc2=size=32x32:rate=10", "-frames:v", 11, "-vf",
           "setpts='(N*0.1+if(gte(N,5),(N-4)*0.2,0))/TB'", "-fps_mode", "passthrough", "-c:v", "ffv1",
           "-pix_fmt", "bgr0", out / "vfr.mkv")
    ffmpeg(*src, "testsrc2=size=48x32:rate=8", "-frames:v", 9, "-c:v", "mpeg4", "-q:v", 2, out / "plain.mp4")
    for degrees in (90, 180, 270):
        ffmpeg("-i", out / "plain.mp4", "-c", "copy", "-metadata:s:v:0", f"rotate={degrees}",
               out / f"rotated{degrees}.mp4")
    (out / "plain.mp4").unlink()


def reference_video(path: Path):
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=avg_frame_rate:frame=best_effort_timestamp_time", "-of", "json", str(path)],
        check=True, capture_output=True).stdout)
    num, den = map(int, probe["streams"][0]["avg_frame_rate"].split("/"))
    times = [float(f["best_effort_timestamp_time"]) for f in probe["frames"]]
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-fps_mode", "passthrough", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    n = len(times)
    frame = len(raw) // n
    # The size after autorotation: the first frame as the CLI outputs it, as a PNG.
    first = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "image2pipe",
                            "-c:v", "png", "-"], check=True, capture_output=True).stdout
    w, h = Image.open(io.BytesIO(first)).size
    assert frame == w * h * 3, (path, frame, w, h)
    return torch.from_numpy(np.frombuffer(raw, np.uint8).reshape(n, h, w, 3).copy()), times, num / den


def make_bad(out: Path, images: Path) -> None:
    (out / "empty.png").write_bytes(b"")
    png = (images / "rgb_odd.png").read_bytes()
    (out / "truncated.png").write_bytes(png[: len(png) * 2 // 3])
    jpg = (images / "exif1.jpg").read_bytes()
    (out / "truncated.jpg").write_bytes(jpg[: len(jpg) * 2 // 3])
    (out / "random.jpg").write_bytes(np.random.default_rng(12).integers(0, 256, 4096, np.uint8).tobytes())
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, "PNG")
    huge = bytearray(buf.getvalue())
    huge[16:24] = (30000).to_bytes(4, "big") * 2  # IHDR width and height; CRC left stale on purpose
    (out / "huge_header.png").write_bytes(bytes(huge))
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", 0.5, "-c:a", "pcm_s16le", out / "audio_only.wav")
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", 0.5, "-c:a", "aac", out / "audio_only.mp4")
    mp4 = (out.parent / "videos" / "mpeg4_21.mp4").read_bytes()
    (out / "truncated.mp4").write_bytes(mp4[: len(mp4) // 2])  # the index (moov) is at the end: lost
    ffmpeg("-i", out.parent / "videos" / "mpeg4_21.mp4", "-c", "copy", "-movflags", "+faststart", out / "faststart.mp4")
    faststart = (out / "faststart.mp4").read_bytes()
    (out / "faststart.mp4").unlink()
    # Index intact, frames missing: the demuxer declares 21 frames and delivers fewer.
    (out / "truncated_faststart.mp4").write_bytes(faststart[: len(faststart) * 2 // 3])
    # The container is intact; the codec stream is noise.
    mkv = bytearray((out.parent / "videos" / "ffv1_rgb_13.mkv").read_bytes())
    noise = np.random.default_rng(13).integers(0, 256, len(mkv) - 600, np.uint8).tobytes()
    mkv[600:] = noise
    (out / "corrupt_stream.mkv").write_bytes(bytes(mkv))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    out = ap.parse_args().out
    images, videos, bad = out / "images", out / "videos", out / "bad"
    for d in (images, videos, bad):
        d.mkdir(parents=True, exist_ok=True)
    tensors, metadata = {}, {}
    for name, rgb in make_images(images).items():
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3, (name, rgb.shape)
        tensors[f"images/{name}"] = torch.from_numpy(rgb.copy()).unsqueeze(0)
    make_videos(videos)
    for path in sorted(videos.iterdir()):
        frames, times, fps = reference_video(path)
        key = f"videos/{path.name}"
        tensors[key] = frames
        tensors[key + ".times"] = torch.tensor(times, dtype=torch.float64)
        metadata[key + ".fps"] = repr(fps)
    make_bad(bad, images)
    save_file(tensors, str(out / "expected.safetensors"), metadata=metadata)


if __name__ == "__main__":
    main()
