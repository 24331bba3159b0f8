#!/usr/bin/python3
"""Renders prompts with a trained shapes-sd folder (the reference Euler sampler of the
training script) and reports how many the shapes detector accepts: the 20 held-out
prompts, training-style captions, or fresh captions (drawn like the training ones but
absent from the training set: with --count 100 or more they rank recipes far less noisily
than the 20 held-out prompts), at one or more guidance scales.

  /usr/bin/python3 tools/train/eval_shapes_sd.py models/shapes-sd --cfg 3 5 7.5
"""

import argparse
import json
import os
import sys

# Torch's threads alone (see train_shapes_sd.py), set before torch loads OpenBLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes_data  # noqa: E402
import shapes_detector  # noqa: E402
import train_shapes_sd as T  # noqa: E402
from clip_bpe import ClipTokenizer  # noqa: E402
from sd_modules import AutoencoderKL, CLIPTextModel, UNet2DConditionModel  # noqa: E402
from train_common import picture_grid, read_safetensors, save_png  # noqa: E402


def load(folder):
    def part(cls, sub, weights):
        with open(os.path.join(folder, sub, "config.json")) as f:
            config = json.load(f)
        module = cls(config)
        module.load_state_dict(read_safetensors(os.path.join(folder, sub, weights)))
        return module.eval(), config
    unet, _ = part(UNet2DConditionModel, "unet", "diffusion_pytorch_model.safetensors")
    vae, vae_config = part(AutoencoderKL, "vae", "diffusion_pytorch_model.safetensors")
    text, _ = part(CLIPTextModel, "text_encoder", "model.safetensors")
    return unet, vae, text, vae_config["scaling_factor"]


def training_captions(count, seed, exclude=frozenset(), kind=None):
    """Captions as the training data draws them (with a background, like the held-out ones),
    of one kind ("pair", "single", "count") or any, leaving out those in `exclude`."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(1000 * count):
        if len(out) == count:
            return out
        parts = shapes_data.random_parts(rng)
        parts["say_background"] = True
        text = shapes_data.caption(parts)
        if text not in exclude and kind in (None, parts["kind"]):
            out.append(text)
    # Every count caption with a background is in a 20,000-scene training set.
    sys.exit(f"only {len(out)} of {count} {kind or ''} captions are not excluded")


def fresh_captions(count, images, seed, kind=None):
    """Training-style captions that neither the training set (the training script's
    defaults: `images` scenes from `seed`) nor the held-out prompts contain."""
    _, seen = shapes_data.make_dataset(images, 64, seed)
    return training_captions(count, seed=4321, exclude=set(seen) | shapes_data.HELDOUT_SET,
                             kind=kind)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--cfg", type=float, nargs="+",
                   help="guidance scales (default: the folder's generation_defaults.json)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--prompts", choices=["heldout", "training", "fresh"], default="heldout")
    p.add_argument("--count", type=int, default=20, help="how many training or fresh captions")
    p.add_argument("--kind", choices=["pair", "single", "count"],
                   help="training or fresh captions of this kind only")
    p.add_argument("--images", type=int, default=20000,
                   help="the training set's size (fresh captions avoid its captions)")
    p.add_argument("--seed", type=int, default=1234, help="the training set's seed")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--grid", help="write the pictures of the first guidance scale here (PNG)")
    p.add_argument("--rewrite-heldout", action="store_true",
                   help="render the held-out prompts at the first --cfg and rewrite the "
                   "folder's heldout_prompts.json, generation_defaults.json, held-out samples "
                   "and train_stats.json's held-out score (what a run with that --cfg writes)")
    p.add_argument("--restore-from", type=int, nargs="+", metavar="T",
                   help="instead of sampling from noise, draw the held-out prompts as scenes, "
                   "noise their latents to each timestep T and denoise them (0: the VAE alone): "
                   "at which noise level the model loses what the prompt asks for")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    unet, vae, text, scale = load(args.model)
    if not args.cfg:
        with open(os.path.join(args.model, "generation_defaults.json")) as f:
            args.cfg = [json.load(f)["guidance_scale"]]
    tokenizer = ClipTokenizer(os.path.join(T.ROOT, "data", "clip", "bpe_simple_vocab_16e6.txt.gz"))
    if args.rewrite_heldout:
        with torch.no_grad():
            scores = T.write_heldout(args.model, unet, text, vae, scale, tokenizer,
                                     args.cfg[0], print)
        stats_path = os.path.join(args.model, "train_stats.json")
        with open(stats_path) as f:
            stats = json.load(f)
        stats.update(scores)
        T.write_json(stats_path, stats)
        return
    if args.prompts == "heldout":
        prompts = shapes_data.HELDOUT_PROMPTS
    elif args.prompts == "training":
        prompts = training_captions(args.count, seed=4321, kind=args.kind)
    else:
        prompts = fresh_captions(args.count, args.images, args.seed, kind=args.kind)
    if args.restore_from:
        # The held-out prompts drawn as scenes, as latents to start from.
        prompts = shapes_data.HELDOUT_PROMPTS
        with torch.no_grad():
            start = vae.moments(T.to_pixels(T.heldout_scenes(64, seed=11)))[0] * scale
    runs = [(t, cfg) for t in (args.restore_from or [None]) for cfg in args.cfg]
    for n, (t, cfg) in enumerate(runs):
        restore = {} if t is None else {"start": start, "t_start": t}
        # Batches of 50: a batch of hundreds spends most of its time faulting in fresh
        # pages for its activations.
        images = np.concatenate([
            T.sample(unet, text, vae, scale, tokenizer, prompts[i:i + 50],
                     range(i, min(i + 50, len(prompts))),
                     steps=args.steps, cfg=cfg,
                     **{k: v[i:i + 50] if k == "start" else v for k, v in restore.items()})
            for i in range(0, len(prompts), 50)])
        verdicts = [shapes_detector.check(im, pr) for im, pr in zip(images, prompts)]
        label = f"cfg {cfg}" if t is None else f"from t={t}, cfg {cfg}"
        hits = sum(ok for ok, _ in verdicts)
        share = hits / len(prompts)
        # The binomial standard error: how far another set of prompts may move the share.
        error = (share * (1 - share) / len(prompts)) ** 0.5
        print(f"{label}: {hits}/{len(prompts)} accepted ({100 * share:.0f}% +- {100 * error:.0f})")
        # By kind, and without the shapes: what is right apart from the objects' outlines.
        loose = [shapes_detector.check(im, pr, shapes=False)[0] for im, pr in zip(images, prompts)]
        kinds = {}
        for prompt, (ok, _), loose_ok in zip(prompts, verdicts, loose):
            objects, relation, _, _ = shapes_detector.parse(prompt)
            kind = "pair" if relation else "count" if len(objects) > 1 else "single"
            kinds.setdefault(kind, []).append((ok, loose_ok))
        print("  by kind (shapes aside): " + ", ".join(
            f"{kind} {sum(a for a, _ in v)}/{len(v)} ({sum(b for _, b in v)})"
            for kind, v in sorted(kinds.items())))
        for prompt, (ok, why) in zip(prompts, verdicts):
            print(f"  {'ok ' if ok else 'MISS'} {prompt} ({why})")
        if args.grid and n == 0:
            save_png(args.grid, picture_grid(images, 5))


if __name__ == "__main__":
    main()
