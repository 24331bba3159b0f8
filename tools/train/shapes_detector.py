"""The pixel-based check of a shapes-sd picture against its prompt.

Each pixel is named by its nearest palette colour (or none when far from all). The
background must be the most common colour; each requested object is the largest
4-connected region of its colour, classified by how much of its bounding box it fills
(square ~1, circle ~pi/4, triangle ~1/2), and must stand where the prompt says. A count
("three green squares") wants exactly that many regions of its colour (specks aside), each
of the shape.
The model's mmgen test is to implement the same rules in C++ (see tools/train/README.md).
"""

import numpy as np

from shapes_data import COLOURS, COUNT_WORDS, PLACES, RELATIONS

PALETTE = np.array(list(COLOURS.values()), np.float32)
NAMES = list(COLOURS)


def parse(prompt):
    """(objects [(colour, shape)], relation, place, background) of a prompt."""
    text = prompt
    background = None
    if " on a " in text and text.endswith(" background"):
        text, tail = text.rsplit(" on a ", 1)
        background = tail[: -len(" background")]
    relation = next((r for r in RELATIONS if f" {r} a " in text), None)
    place = next((pl for pl in PLACES if text.endswith(" " + pl)), None)
    words = text.split()
    count = next((n for n, word in COUNT_WORDS.items() if words[0] == word), None)
    if count:  # "three green squares": that many objects of one colour and shape
        return [(words[1], words[2][:-1])] * count, None, None, background
    if relation:
        first, second = text.split(f" {relation} ")
        objects = [tuple(first.split()[1:3]), tuple(second.split()[1:3])]
    else:
        objects = [tuple(text.split()[1:3])]
    return objects, relation, place, background


def largest_region(mask):
    """Pixel count, bounding box (x0, y0, x1, y1) and centroid of the largest 4-connected region."""
    return max(regions(mask), default=(0, None, None), key=lambda r: r[0])


def regions(mask):
    """(pixel count, bounding box, centroid) of every 4-connected region."""
    h, w = mask.shape
    seen = np.zeros_like(mask, bool)
    out = []
    for sy, sx in zip(*np.nonzero(mask)):
        if seen[sy, sx]:
            continue
        stack, pixels = [(sy, sx)], []
        seen[sy, sx] = True
        while stack:
            y, x = stack.pop()
            pixels.append((y, x))
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        ys, xs = np.array(pixels).T
        out.append((len(pixels), (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1),
                    (xs.mean() + 0.5, ys.mean() + 0.5)))
    return out


def classify_shape(area, box):
    fill = area / float((box[2] - box[0]) * (box[3] - box[1]))
    return ("triangle" if fill < 0.64 else "circle" if fill < 0.89 else "square"), fill


def check(image, prompt, shapes=True):
    """(accepted, explanation) for an RGB uint8 image [S, S, 3]. With shapes=False the
    objects' shapes are not checked: colours, counts, places and relations only."""
    size = image.shape[0]
    objects, relation, place, background = parse(prompt)
    d = ((image[:, :, None, :].astype(np.float32) - PALETTE[None, None]) ** 2).sum(-1)
    labels = np.where(d.min(-1) < 90.0 ** 2, d.argmin(-1), -1)
    counts = np.bincount(labels[labels >= 0].ravel(), minlength=len(NAMES))
    if background and NAMES[int(counts.argmax())] != background:
        return False, f"background is {NAMES[int(counts.argmax())]}"
    if len(objects) > 1 and not relation:
        # A count: every region of the colour bigger than a speck is one object.
        colour, shape = objects[0]
        parts = [r for r in regions(labels == NAMES.index(colour)) if r[0] >= 0.006 * size * size]
        if len(parts) != len(objects):
            return False, f"{len(parts)} {colour} regions"
        for area, box, _ in parts:
            seen, fill = classify_shape(area, box)
            if shapes and seen != shape:
                return False, f"{colour} {seen} (fill {fill:.2f})"
        return True, "ok"
    found = []
    for colour, shape in objects:
        area, box, centre = largest_region(labels == NAMES.index(colour))
        if area < 0.02 * size * size:
            return False, f"no {colour} region"
        seen, fill = classify_shape(area, box)
        if shapes and seen != shape:
            return False, f"{colour} {seen} (fill {fill:.2f})"
        found.append(np.array(centre) / size)
    if relation:
        (x1, y1), (x2, y2) = found
        ok = {"above": y1 < y2 - 0.1, "below": y1 > y2 + 0.1,
              "to the left of": x1 < x2 - 0.1, "to the right of": x1 > x2 + 0.1}[relation]
        if not ok:
            return False, f"not {relation} ({x1:.2f},{y1:.2f}) vs ({x2:.2f},{y2:.2f})"
    if place:
        x, y = found[0]
        ok = {"on the left": x < 0.4, "on the right": x > 0.6, "at the top": y < 0.4,
              "at the bottom": y > 0.6,
              "in the middle": abs(x - 0.5) < 0.15 and abs(y - 0.5) < 0.15}[place]
        if not ok:
            return False, f"not {place} ({x:.2f},{y:.2f})"
    return True, "ok"
