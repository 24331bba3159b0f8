"""Pieces the training scripts share: GPT-2's byte-to-character map (byte-level BPE,
also CLIP's) and the learning-rate schedule (linear warm-up, cosine decay to a floor)."""

import math


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
