#!/usr/bin/python3
"""Writes the shapes detector's agreement cases: scenes of the shapes-sd data set as PNG,
each with prompts the Python detector accepts or rejects (and why), so the C++ detector
of the model's tests can be checked to give the same verdicts.

  /usr/bin/python3 tools/train/make_detector_cases.py --out tests/data/shapes_scenes
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes_data  # noqa: E402
import shapes_detector  # noqa: E402
from train_common import save_png  # noqa: E402


def box_blur(image, radius):
    """Softens edges (what a generated picture looks like) to exercise the thresholds."""
    x = image.astype(np.float32)
    k = 2 * radius + 1
    padded = np.pad(x, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    out = np.zeros_like(x)
    for dy in range(k):
        for dx in range(k):
            out += padded[dy:dy + x.shape[0], dx:dx + x.shape[1]]
    return np.clip(out / (k * k) + 0.5, 0, 255).astype(np.uint8)


def variants(parts):
    """Captions that contradict the scene in one way each."""
    out = []
    names, shapes = list(shapes_data.COLOURS), list(shapes_data.SHAPES)
    colour, shape = parts["objects"][0]
    other_shape = shapes[(shapes.index(shape) + 1) % 3]
    used = {c for c, _ in parts["objects"]} | {parts["background"]}
    spare = next(c for c in names if c not in used)
    if parts["kind"] == "count":  # every object changes together, or their number
        n = len(parts["objects"])
        out.append(dict(parts, objects=[(colour, other_shape)] * n))
        out.append(dict(parts, objects=[(spare, shape)] * n))
        out.append(dict(parts, objects=[(colour, shape)] * (5 - n)))
    else:
        out.append(dict(parts, objects=[(colour, other_shape)] + parts["objects"][1:]))
        out.append(dict(parts, objects=[(spare, shape)] + parts["objects"][1:]))
    out.append(dict(parts, background=spare, say_background=True))
    if parts["relation"]:
        flip = {"above": "below", "below": "above", "to the left of": "to the right of",
                "to the right of": "to the left of"}
        out.append(dict(parts, relation=flip[parts["relation"]]))
    if parts["place"]:
        flip = {"on the left": "on the right", "on the right": "on the left",
                "at the top": "at the bottom", "at the bottom": "at the top",
                "in the middle": "on the left"}
        out.append(dict(parts, place=flip[parts["place"]]))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--scenes", type=int, default=16)
    p.add_argument("--seed", type=int, default=77)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    cases = []
    for i in range(args.scenes):
        parts = shapes_data.random_parts(rng)
        parts["say_background"] = True
        image = np.clip(shapes_data.draw(parts, rng, 64) * 255 + 0.5, 0, 255).astype(np.uint8)
        if i % 2:
            image = box_blur(image, 1 + i % 3)
        name = f"scene_{i:02d}.png"
        save_png(os.path.join(args.out, name), image)
        for prompt_parts in [parts] + variants(parts):
            prompt = shapes_data.caption(prompt_parts)
            ok, why = shapes_detector.check(image, prompt)
            cases.append({"image": name, "prompt": prompt, "accepted": bool(ok), "why": why})
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=1)
        f.write("\n")
    print(f"{len(cases)} cases, {sum(c['accepted'] for c in cases)} accepted")


if __name__ == "__main__":
    main()
