"""Pieces the training scripts share: GPT-2's byte-to-character map (byte-level BPE,
also CLIP's), the learning-rate schedule (linear warm-up, cosine decay to a floor) and
a dependency-free PNG writer with the grid the scripts show pictures in."""

import math
import os
import struct
import zlib

import numpy as np


def bytes_to_unicode():
    """GPT-2's map from each byte to a printable character."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def set_warmup_cosine_lr(optimizer, peak, step, total, warmup, floor):
    """Sets and returns peak * warm-up * (floor + (1 - floor) * cosine) for this step."""
    lr = peak * min(1.0, (step + 1) / warmup) * (
        floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * step / total)))
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def save_png(path, image):
    """An RGB uint8 picture as PNG (zlib-compressed, one filter byte per row)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    h, w, _ = image.shape
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
           chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


def picture_grid(images, columns):
    """uint8 pictures [n, h, w, 3] (n a multiple of columns) as one picture, row by row."""
    rows = [np.concatenate(list(images[r:r + columns]), axis=1)
            for r in range(0, len(images), columns)]
    return np.concatenate(rows, axis=0)
