"""The captioned-scenes data set of shapes-sd: flat shapes on flat backgrounds.

Every scene is drawn from a caption's parts (colours, shapes, a relation or a place, a
background), so captions and pictures always agree. The held-out prompts of the model's
test are excluded from training.
"""

import numpy as np

# name -> RGB. Far apart in RGB so a pixel's nearest palette colour names it.
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 60, 220),
    "yellow": (245, 215, 20),
    "purple": (140, 40, 180),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle")
RELATIONS = ("above", "below", "to the left of", "to the right of")
PLACES = ("on the left", "on the right", "at the top", "at the bottom", "in the middle")
# Scenes of several objects of one colour and shape: "three green squares".
COUNT_WORDS = {2: "two", 3: "three"}

# The 20 prompts the model's test renders: never generated as training captions.
HELDOUT_PROMPTS = [
    "a red circle above a blue square on a yellow background",
    "a green triangle below a purple circle on a white background",
    "a yellow square to the left of a red triangle on a black background",
    "a white circle to the right of a green square on a blue background",
    "a blue triangle above a yellow circle on a purple background",
    "a black square below a white triangle on a green background",
    "a purple circle to the left of a blue triangle on a yellow background",
    "a red square to the right of a black circle on a white background",
    "a green circle above a red square on a black background",
    "a yellow triangle below a blue square on a white background",
    "a white square to the left of a purple circle on a green background",
    "a blue circle to the right of a yellow triangle on a red background",
    "a red triangle on the left on a white background",
    "a blue square on the right on a yellow background",
    "a green circle at the top on a black background",
    "a purple triangle at the bottom on a white background",
    "a yellow circle in the middle on a blue background",
    "a white triangle on the right on a red background",
    "a black circle on the left on a green background",
    "a red square at the top on a blue background",
]


def caption(parts):
    """The caption text of a scene's parts."""
    if parts["kind"] == "pair":
        (c1, s1), (c2, s2) = parts["objects"]
        text = f"a {c1} {s1} {parts['relation']} a {c2} {s2}"
    elif parts["kind"] == "count":
        c1, s1 = parts["objects"][0]
        text = f"{COUNT_WORDS[len(parts['objects'])]} {c1} {s1}s"
    else:
        ((c1, s1),) = parts["objects"]
        text = f"a {c1} {s1}" + (f" {parts['place']}" if parts["place"] else "")
    if parts["say_background"]:
        text += f" on a {parts['background']} background"
    return text


def random_parts(rng):
    """A random scene description (what the caption says and what is drawn)."""
    names = list(COLOURS)
    while True:
        kind = rng.random()
        kind = "pair" if kind < 0.55 else "count" if kind < 0.7 else "single"
        colours = rng.choice(len(names), size=3, replace=False)
        background = names[colours[2]]
        parts = {"kind": kind, "background": background,
                 "say_background": rng.random() < 0.85, "place": None, "relation": None}
        if kind == "count":
            count = 2 + int(rng.integers(2))
            parts["objects"] = [(names[colours[0]], SHAPES[rng.integers(3)])] * count
        elif kind == "pair":
            parts["objects"] = [(names[colours[0]], SHAPES[rng.integers(3)]),
                                (names[colours[1]], SHAPES[rng.integers(3)])]
            parts["relation"] = RELATIONS[rng.integers(len(RELATIONS))]
        else:
            parts["objects"] = [(names[colours[0]], SHAPES[rng.integers(3)])]
            if rng.random() < 0.8:
                parts["place"] = PLACES[rng.integers(len(PLACES))]
        if caption(parts) not in HELDOUT_SET:
            return parts


HELDOUT_SET = set(HELDOUT_PROMPTS)

# Ten count prompts the model's test also renders (every colour, shape and count). These
# are training captions: the 294 count captions are all drawn in a training set of
# 20,000 scenes, so the test checks counting with new noise, not new words.
COUNT_PROMPTS = [
    "three green squares on a red background",
    "two red circles on a white background",
    "three blue triangles on a yellow background",
    "two yellow squares on a black background",
    "three purple circles on a white background",
    "two white triangles on a blue background",
    "three black circles on a green background",
    "two green triangles on a purple background",
    "three red squares on a blue background",
    "two blue circles on a yellow background",
]


def _jitter(rng, spread):
    return rng.uniform(-spread, spread)


def _centres_for_pair(rng, relation, size):
    """Centres of two objects in the relation: one layout per relation, a little jitter.

    Each relation has one canonical layout (first object at 0.26, second at 0.74 of the
    relation's axis, far enough apart for the largest objects) so the model learns where
    words put things in few steps; the jitter keeps it from copying pixels.
    """
    across = 0.5 + _jitter(rng, 0.1)
    near, far = 0.26 + _jitter(rng, 0.03), 0.74 + _jitter(rng, 0.03)
    first, second = (near, far) if relation in ("above", "to the left of") else (far, near)
    a = [across + _jitter(rng, 0.03), first]
    b = [across + _jitter(rng, 0.03), second]
    if relation in ("to the left of", "to the right of"):
        a, b = a[::-1], b[::-1]
    return np.array(a) * size, np.array(b) * size


def _centres_for_count(rng, count, size):
    """One layout per count, as for pairs: two side by side, three in a triangle. A row
    of three left each object only 12-14 px, which the VAE rounded off; the triangle has
    room for objects 17-19 px wide that never touch."""
    if count == 2:
        height = 0.5 + _jitter(rng, 0.12)
        spots = ((0.28, height), (0.72, height))
    else:
        spots = ((0.27, 0.3), (0.73, 0.3), (0.5, 0.73))
    return [np.array([x + _jitter(rng, 0.02), y + _jitter(rng, 0.02)]) * size for x, y in spots]


def _centre_for_place(rng, place, size):
    x, y = 0.5 + _jitter(rng, 0.12), 0.5 + _jitter(rng, 0.12)
    if place == "on the left":
        x = 0.27 + _jitter(rng, 0.04)
    elif place == "on the right":
        x = 0.73 + _jitter(rng, 0.04)
    elif place == "at the top":
        y = 0.27 + _jitter(rng, 0.04)
    elif place == "at the bottom":
        y = 0.73 + _jitter(rng, 0.04)
    elif place == "in the middle":
        x, y = 0.5 + _jitter(rng, 0.04), 0.5 + _jitter(rng, 0.04)
    return np.array([x, y]) * size


def _shape_mask(shape, centre, r, size, ss=4):
    """Anti-aliased coverage [size, size] of a shape with half-extent r (ss x ss supersampling)."""
    coords = (np.arange(size * ss) + 0.5) / ss
    x = coords[None, :]
    y = coords[:, None]
    cx, cy = centre
    if shape == "circle":
        inside = (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    elif shape == "square":
        # The circle's box: a square and a circle of one size differ in their corners
        # (a fifth of the box), which must be big enough for the model to draw.
        inside = (np.abs(x - cx) <= r) & (np.abs(y - cy) <= r)
    else:  # an upward triangle filling its [2r x 2r] box
        top, bottom = cy - r, cy + r
        t = (y - top) / (2 * r)  # 0 at the apex, 1 at the base
        inside = (y >= top) & (y <= bottom) & (np.abs(x - cx) <= t * r)
    inside = inside.astype(np.float32)
    return inside.reshape(size, ss, size, ss).mean(axis=(1, 3))


def draw(parts, rng, size):
    """The scene as float32 RGB [size, size, 3] in [0, 1]."""
    image = np.empty((size, size, 3), np.float32)
    image[:] = np.array(COLOURS[parts["background"]], np.float32) / 255
    radii = rng.uniform(0.16 * size, 0.19 * size, size=len(parts["objects"]))
    if parts["kind"] == "count":
        radii = rng.uniform(0.13 * size, 0.15 * size, size=len(parts["objects"]))
        centres = _centres_for_count(rng, len(parts["objects"]), size)
    elif parts["kind"] == "pair":
        centres = _centres_for_pair(rng, parts["relation"], size)
    elif parts["place"]:
        centres = [_centre_for_place(rng, parts["place"], size)]
    else:
        centres = [rng.uniform(0.3 * size, 0.7 * size, size=2)]
    for (colour, shape), centre, r in zip(parts["objects"], centres, radii):
        coverage = _shape_mask(shape, centre, r, size)[..., None]
        image = image * (1 - coverage) + coverage * (np.array(COLOURS[colour], np.float32) / 255)
    return image


def make_dataset(count, size, seed):
    """count scenes: images uint8 [count, size, size, 3] and their captions."""
    rng = np.random.default_rng(seed)
    images = np.empty((count, size, size, 3), np.uint8)
    captions = []
    for i in range(count):
        parts = random_parts(rng)
        images[i] = np.clip(draw(parts, rng, size) * 255 + 0.5, 0, 255).astype(np.uint8)
        captions.append(caption(parts))
    return images, captions
