"""Pieces the training scripts share: GPT-2's byte-to-character map (byte-level BPE,
also CLIP's), the learning-rate schedule (linear warm-up, cosine decay to a floor), the
file writers (atomic: a temporary name, then a rename) for JSON, safetensors and WAV, and
a dependency-free PNG writer with the grid the scripts show pictures in, and the reader
of Debian's fortune files (the text and voice models' corpora)."""

import io
import json
import math
import os
import re
import struct
import wave
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


def write_atomic(path, data):
    """Bytes to path through a temporary name, so a reader never sees a partial file."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_json(path, value):
    write_atomic(path, (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode())


def safetensors_bytes(tensors, metadata=None):
    """torch tensors (F32, F16 or I64, as they are) in the safetensors layout: 8-byte
    header size, JSON header padded to 8 bytes, then the data in name order."""
    dtypes = {"torch.float32": "F32", "torch.float16": "F16", "torch.int64": "I64"}
    header, blobs, offset = {"__metadata__": metadata or {}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtypes[str(t.dtype)], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def read_safetensors(path):
    """{name: torch tensor} of a safetensors file written by safetensors_bytes."""
    import torch  # only the scripts that train need it
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    with open(path, "rb") as f:
        raw = f.read()
    size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + size])
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = (8 + size + o for o in entry["data_offsets"])
        array = np.frombuffer(raw[begin:end], dtypes[entry["dtype"]]).reshape(entry["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors


def wav_bytes(samples, sample_rate):
    """float samples in [-1, 1] as a 16-bit mono PCM WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).round().astype("<i2").tobytes())
    return buffer.getvalue()


def read_fortune_file(path):
    """The fortunes of one fortune file: the non-blank texts between its '%' lines."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return [p for p in re.split(r"^%\s*$", f.read(), flags=re.M) if p.strip()]
