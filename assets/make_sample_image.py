#!/usr/bin/env python3
"""Writes assets/sample_image.safetensors, the picture `./setup.sh demo` asks about: a 128 x 96
landscape (sky gradient, sun, hills) drawn with numpy, as a frames file (vision/frames.h) so builds
without image decoders can read it. Deterministic: no randomness, no fonts, no image library.

    python assets/make_sample_image.py [--out assets/sample_image.safetensors]
"""
import argparse
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

HEIGHT, WIDTH = 96, 128


def draw() -> np.ndarray:
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    sky_top, sky_bottom = np.array([40, 90, 200]), np.array([170, 210, 250])
    t = (y / (HEIGHT - 1))[..., None]
    image = (1 - t) * sky_top + t * sky_bottom
    sun = (x - 96) ** 2 + (y - 24) ** 2 <= 11 ** 2
    image[sun] = [250, 220, 60]
    hills = y >= 62 + 10 * np.sin(x / 14.0)
    shade = (0.75 + 0.25 * np.cos(x / 9.0))[..., None]
    image = np.where(hills[..., None], shade * np.array([60, 150, 70]), image)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "sample_image.safetensors")
    out = ap.parse_args().out
    save_file({"frames": torch.from_numpy(draw())}, out)


if __name__ == "__main__":
    main()
