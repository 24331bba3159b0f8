#!/usr/bin/python3
"""Trains shapes-sd: a small Stable Diffusion 1.x model of captioned flat-shape scenes.

Three stages, all reproducible from --seed on the CPU with Debian's python3-torch:
  1. the VAE (AutoencoderKL, 3 levels: 64x64 pixels <-> 16x16x4 latents) on scenes;
  2. the latents of the training scenes, and the latent scale that makes them unit-variance;
  3. the UNet and a small CLIP-architecture text encoder (the real CLIP vocabulary) together,
     with the epsilon objective on SD 1.x's scaled-linear noise schedule, caption dropout
     for classifier-free guidance and an exponential moving average of the weights.
Writes a diffusers folder (f16 safetensors, configs, tokenizer files) that mmgen loads,
the held-out prompts with their token ids, and train_stats.json for the model card.

  apt-get install python3-torch python3-numpy python3-regex
  /usr/bin/python3 tools/train/train_shapes_sd.py --out models/shapes-sd
"""

import argparse
import copy
import math
import os
import sys
import time

# OpenBLAS's own threads fight torch's OpenMP threads for the cores: a step runs twice as
# fast with torch's threads alone (set before torch loads OpenBLAS).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes_data  # noqa: E402
import shapes_detector  # noqa: E402
from clip_bpe import ClipTokenizer  # noqa: E402
from train_common import (picture_grid, read_safetensors, safetensors_bytes,  # noqa: E402
                          save_png, set_warmup_cosine_lr, write_atomic, write_json)
from sd_modules import (Attention, AutoencoderKL, CLIPTextModel,  # noqa: E402
                        UNet2DConditionModel)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

UNET_CONFIG = {
    "_class_name": "UNet2DConditionModel",
    "sample_size": 16,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": [64, 64, 64],  # the default of --unet-channels
    "layers_per_block": 1,
    # Which levels cross-attend is set from --attention (8x8 and 4x4 by default; at 16x16
    # a transformer block costs several times a whole step on the CPU), so the
    # convolutions at 16x16 draw the objects' outlines.
    "down_block_types": ["DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"],
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "attention_head_dim": 4,  # diffusers' SD 1.x name for the head count
    "cross_attention_dim": 64,
    "act_fn": "silu",
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "center_input_sample": False,
    "downsample_padding": 1,
    "use_linear_projection": False,
}
VAE_CONFIG = {
    "_class_name": "AutoencoderKL",
    "sample_size": 64,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "block_out_channels": [32, 64, 64],
    "layers_per_block": 1,
    "down_block_types": ["DownEncoderBlock2D"] * 3,
    "up_block_types": ["UpDecoderBlock2D"] * 3,
    "act_fn": "silu",
    "norm_num_groups": 32,
    "scaling_factor": 0.18215,  # replaced by the measured one
}
TEXT_CONFIG = {
    "architectures": ["CLIPTextModel"],
    "model_type": "clip_text_model",
    "vocab_size": 49408,
    "hidden_size": 64,
    "intermediate_size": 256,
    "num_hidden_layers": 4,  # two layers did not bind colours to the right object
    "num_attention_heads": 4,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
    "bos_token_id": 49406,
    "eos_token_id": 49407,
    "pad_token_id": 49407,
    "torch_dtype": "float16",
}
SCHEDULER_CONFIG = {
    "_class_name": "DDIMScheduler",
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
}


# ---------------------------------------------------------------- files


def write_safetensors(path, tensors):
    """A safetensors file with the floating tensors in f16 (as SD releases ship)."""
    write_atomic(path, safetensors_bytes(
        {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()},
        {"format": "pt"}))


def round_to_f16(module):
    """The module with its weights rounded to f16 (what the shipped files hold)."""
    rounded = copy.deepcopy(module)
    with torch.no_grad():
        for p in rounded.parameters():
            p.copy_(p.half().float())
    return rounded


# ---------------------------------------------------------------- training


def to_pixels(images_uint8):
    return torch.from_numpy(images_uint8).permute(0, 3, 1, 2).float() / 127.5 - 1


def to_uint8(pixels):
    """The inverse of to_pixels: [n, 3, h, w] in [-1, 1] -> uint8 RGB [n, h, w, 3]."""
    return ((pixels.permute(0, 2, 3, 1) + 1) * 127.5 + 0.5).clamp(0, 255).byte().numpy()


def detector_accepts(pictures, prompts):
    """How many uint8 pictures the shapes detector accepts for their prompts."""
    return sum(shapes_detector.check(im, p)[0] for im, p in zip(pictures, prompts))


def edge_l1(y, x):
    """L1 distance of the horizontal and vertical pixel differences (`--vae-edge`): meant
    to keep a triangle's apex and a square's corners sharp; off by default, as its first
    try reconstructed worse (tools/train/README.md)."""
    return (F.l1_loss(y[..., 1:, :] - y[..., :-1, :], x[..., 1:, :] - x[..., :-1, :])
            + F.l1_loss(y[..., :, 1:] - y[..., :, :-1], x[..., :, 1:] - x[..., :, :-1]))


def products_in(args):
    """The training forward passes: bf16 products under autocast (--precision bf16; the
    modules normalise in f32), which a CPU with AVX-512 BF16 runs about 1.5 times as fast
    as f32, or plain f32. Weights, gradients, the optimiser and the losses stay f32."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16")


def train_vae(vae, images, args, log):
    opt = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, weight_decay=0.0)
    rng = np.random.default_rng(args.seed + 1)
    start = time.time()
    for step in range(args.vae_steps):
        set_warmup_cosine_lr(opt, args.vae_lr, step, args.vae_steps, warmup=100, floor=0.1)
        x = to_pixels(images[rng.integers(len(images), size=args.vae_batch)])
        if step < args.vae_steps - args.vae_full_steps:
            # Most steps see 32x32 crops (a quarter of the work; the VAE is convolutional).
            oy, ox = (int(v) for v in rng.integers(0, 33, size=2))
            x = x[:, :, oy:oy + 32, ox:ox + 32]
        with products_in(args):
            mean, logvar = vae.moments(x)
            mean, logvar = mean.float(), logvar.float().clamp(-30, 20)
            z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
            y = vae.decode(z).float()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(dim=(1, 2, 3)).mean()
        loss = (F.mse_loss(y, x) + 0.5 * F.l1_loss(y, x) + args.vae_edge * edge_l1(y, x)
                + args.vae_kl * kl)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == args.vae_steps - 1:
            log(f"vae step {step} loss {loss.item():.5f} kl {kl.item():.1f} "
                f"({time.time() - start:.0f} s)")
    return time.time() - start


@torch.no_grad()
def encode_latents(vae, images, batch=32):
    # Small batches: at 256 the activations are fresh pages every batch and the kernel
    # time (page faults) dominates.
    means = []
    for i in range(0, len(images), batch):
        means.append(vae.moments(to_pixels(images[i:i + batch]))[0])
    return torch.cat(means)


class GridProbe(torch.nn.Module):
    """Learned queries, one per cell of a grid over the picture, cross-attend to the
    caption's states as the UNet's attention does and regress the colours of the cell's
    sub x sub pixels: a task that needs the text encoder to say which colour and shape goes
    where (a cell's mean colour alone says little about corners)."""

    def __init__(self, grid, sub, width, heads):
        super().__init__()
        self.grid, self.sub = grid, sub
        self.queries = torch.nn.Parameter(torch.randn(grid * grid, width) * 0.5)
        self.attention = Attention(width, heads, width)
        self.head = torch.nn.Sequential(torch.nn.Linear(width, 2 * width), torch.nn.SiLU(),
                                        torch.nn.Linear(2 * width, 3 * sub * sub))

    def forward(self, context):
        q = self.queries[None].expand(len(context), -1, -1)
        cells = self.head(q + self.attention(q, context))
        cells = cells.transpose(1, 2).reshape(len(context), -1, self.grid, self.grid)
        return F.pixel_shuffle(cells, self.sub)


def heldout_scenes(size, seed):
    """The held-out prompts drawn as the data set draws scenes (for evaluation only)."""
    rng = np.random.default_rng(seed)
    pictures = []
    for prompt in shapes_data.HELDOUT_PROMPTS:
        objects, relation, place, background = shapes_detector.parse(prompt)
        parts = {"kind": "pair" if relation else "single", "background": background,
                 "say_background": True, "place": place, "relation": relation,
                 "objects": objects}
        picture = shapes_data.draw(parts, rng, size)
        pictures.append(np.clip(picture * 255 + 0.5, 0, 255).astype(np.uint8))
    return np.stack(pictures)


def object_cell_accuracy(predicted, target, backgrounds):
    """Share of the cells covered by an object whose predicted colour is the object's
    (nearest palette colour), over pictures [n, 3, g, g] in [-1, 1]."""
    palette = torch.tensor(list(shapes_data.COLOURS.values()), dtype=torch.float32) / 127.5 - 1
    names = list(shapes_data.COLOURS)
    hits = total = 0
    for p, t, background in zip(predicted, target, backgrounds):
        p, t = p.reshape(3, -1).T, t.reshape(3, -1).T
        distance, nearest = torch.cdist(t, palette).min(1)
        covered = (distance < 0.15) & (nearest != names.index(background))
        hits += int((torch.cdist(p, palette).argmin(1) == nearest)[covered].sum())
        total += int(covered.sum())
    return hits / max(total, 1)


def pretrain_text(text, images, ids, tokenizer, local, args, log):
    """A few minutes of the grid task before the UNet stage: the text encoder learns to
    bind colours and shapes to places without a diffusion model in the loop."""
    grid, sub = args.text_grid, args.text_subcells
    # The encoder is causal, so the states up to the last caption's end token are the same
    # without the padding after it: the task runs on those only (a quarter of 77).
    end = int(local[TEXT_CONFIG["eos_token_id"]])
    length = int((ids == end).int().argmax(1).max()) + 1
    ids = ids[:, :length]
    pool = images.shape[1] // (grid * sub)
    targets = F.avg_pool2d(to_pixels(images), pool)
    probe = GridProbe(grid, sub, TEXT_CONFIG["hidden_size"], TEXT_CONFIG["num_attention_heads"])
    held_targets = F.avg_pool2d(to_pixels(heldout_scenes(images.shape[1], args.seed + 5)), pool)
    held_ids = local[torch.tensor([tokenizer.framed(p) for p in shapes_data.HELDOUT_PROMPTS])]
    held_ids = held_ids[:, :length]
    held_backgrounds = [shapes_detector.parse(p)[3] for p in shapes_data.HELDOUT_PROMPTS]
    params = list(text.parameters()) + list(probe.parameters())
    opt = torch.optim.AdamW(params, lr=args.text_lr, weight_decay=0.0, foreach=True)
    rng = np.random.default_rng(args.seed + 4)
    start = time.time()
    for step in range(args.text_steps):
        set_warmup_cosine_lr(opt, args.text_lr, step, args.text_steps, warmup=50, floor=0.1)
        pick = torch.from_numpy(rng.integers(len(ids), size=args.text_batch))
        with products_in(args):
            predicted = probe(text(ids[pick])).float()
        loss = F.mse_loss(predicted, targets[pick])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % 250 == 0 or step == args.text_steps - 1:
            with torch.no_grad():
                held = probe(text(held_ids))
            # The probe's own pictures, enlarged to the scene size, through the detector:
            # whether the caption's states say the shapes, not just the colours.
            pictures = F.interpolate(held.clamp(-1, 1), scale_factor=pool, mode="nearest")
            drawn = detector_accepts(to_uint8(pictures), shapes_data.HELDOUT_PROMPTS)
            log(f"text step {step + 1}: loss {loss.item():.4f}, held-out {F.mse_loss(held, held_targets).item():.4f}, "
                f"object cells right {100 * object_cell_accuracy(held, held_targets, held_backgrounds):.0f}%, "
                f"detector accepts {drawn}/20 probe pictures ({time.time() - start:.0f} s)")
    return time.time() - start


def alphas_cumprod():
    c = SCHEDULER_CONFIG
    betas = torch.linspace(c["beta_start"] ** 0.5, c["beta_end"] ** 0.5,
                           c["num_train_timesteps"], dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, dim=0).float()


def train_unet(unet, text, latents, ids, args, log, evaluate=None, pretrain=None):
    # Only the rows of tokens the captions use are trained (Adam leaves rows without
    # gradient untouched anyway): a small table during training, merged back at the end.
    full_table = text.text_model.embeddings.token_embedding
    used = torch.unique(torch.cat([ids.flatten(), torch.tensor(args.empty_ids)]))
    local = torch.full((full_table.num_embeddings,), -1, dtype=torch.long)
    local[used] = torch.arange(len(used))
    ids = local[ids]
    args.empty_ids = local[torch.tensor(args.empty_ids)].tolist()
    small = torch.nn.Embedding(len(used), full_table.embedding_dim)
    with torch.no_grad():
        small.weight.copy_(full_table.weight[used])
    text.text_model.embeddings.token_embedding = small
    text_seconds = pretrain(text, ids, local) if pretrain and args.text_steps else 0.0
    params = list(unet.parameters()) + list(text.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0, betas=(0.9, 0.99),
                            foreach=True)
    ema_unet, ema_text = copy.deepcopy(unet), copy.deepcopy(text)
    ema_params = list(ema_unet.parameters()) + list(ema_text.parameters())
    ac = alphas_cumprod()
    snr = ac / (1 - ac)
    # The epsilon loss weighs an error of the implied clean picture by the SNR, so at high
    # noise, where the caption alone decides the layout and colours, it barely teaches
    # the caption's picture. Weights that make the clean-picture weight
    # clamp(SNR, x0_floor, snr_cap): min-SNR at low noise, a floor (1 = v-prediction's
    # weighting) at high noise.
    weight = torch.clamp(snr, min=args.x0_floor, max=args.snr_cap) / snr
    empty = torch.tensor(args.empty_ids)
    rng = np.random.default_rng(args.seed + 2)
    gen = torch.Generator().manual_seed(args.seed + 3)
    start = time.time()
    for step in range(args.unet_steps):
        lr = set_warmup_cosine_lr(opt, args.lr, step, args.unet_steps, warmup=200,
                                  floor=args.lr_floor)
        pick = torch.from_numpy(rng.integers(len(latents), size=args.batch))
        # Each caption's scene is noised --repeats times (repeat-major): the text encoder
        # and the cross-attention keys and values run once per caption.
        x0 = latents[pick].repeat(args.repeats, 1, 1, 1)
        n = len(x0)
        tokens = ids[pick].clone()
        drop = torch.rand(args.batch, generator=gen) < args.uncond
        tokens[drop] = empty
        # A share of the batch at high noise, where the layout and the colours are decided
        # from the caption (uniform t leaves the text little to do there).
        t = torch.randint(0, 1000, (n,), generator=gen)
        high = torch.rand(n, generator=gen) < args.high_noise
        t[high] = torch.randint(500, 1000, (int(high.sum()),), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        # Offset noise: a per-channel constant in the noise lets the model learn to move a
        # picture's mean (the background colour), which plain noise leaves to the last
        # few, barely trained, highest-noise steps.
        noise += args.offset_noise * torch.randn((n, x0.shape[1], 1, 1), generator=gen)
        a = ac[t][:, None, None, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        with products_in(args):
            eps = unet(xt, t, text(tokens)).float()
        loss = ((eps - noise).pow(2).mean(dim=(1, 2, 3)) * weight[t]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_mul_(ema_params, decay)
            torch._foreach_add_(ema_params, params, alpha=1 - decay)
        if step % 100 == 0 or step == args.unet_steps - 1:
            log(f"unet step {step} loss {loss.item():.4f} lr {lr:.2e} "
                f"({time.time() - start:.0f} s)")
        if evaluate and args.eval_every and (step + 1) % args.eval_every == 0:
            report = evaluate(ema_unet, lambda tokens: ema_text(local[tokens]), step + 1)
            log(f"unet step {step + 1}: {report} ({time.time() - start:.0f} s)")
    with torch.no_grad():
        full_table.weight[used] = ema_text.text_model.embeddings.token_embedding.weight
    ema_text.text_model.embeddings.token_embedding = full_table
    return ema_unet, ema_text, text_seconds, time.time() - start


# ---------------------------------------------------------------- sampling


@torch.no_grad()
def sample(unet, encode, vae, scale, tokenizer, prompts, seeds, steps=20, cfg=5.0,
           start=None, t_start=999):
    """Euler (k-diffusion sample_euler) from seeded noise, all prompts in one batch.

    encode maps CLIP token ids [n, 77] to the UNet's context. With start (scaled latents
    [n, 4, h, w]) the run begins from them noised to timestep t_start (0: the VAE alone),
    as img2img does. Returns uint8 RGB pictures [len(prompts), 64, 64, 3].
    """
    ac = alphas_cumprod()
    sigmas_all = ((1 - ac) / ac).sqrt()
    ts = torch.linspace(t_start, 0, steps, dtype=torch.float64) if t_start > 0 else []
    sigmas = []
    for t in ts:  # interpolate log-sigma at fractional timesteps, as k-diffusion does
        lo, hi = int(math.floor(t)), int(math.ceil(t))
        w = float(t) - lo
        sigmas.append(math.exp((1 - w) * math.log(sigmas_all[lo]) + w * math.log(sigmas_all[hi])))
    sigmas.append(0.0)
    n = len(prompts)
    cond = encode(torch.tensor([tokenizer.framed(p) for p in prompts] +
                               [tokenizer.framed("")] * n))
    size = UNET_CONFIG["sample_size"]
    x = torch.cat([torch.randn((1, 4, size, size), generator=torch.Generator().manual_seed(s))
                   for s in seeds]) * sigmas[0]
    if start is not None:
        x = x + start
    log_sigmas = sigmas_all.log()
    for i in range(len(ts)):
        s = sigmas[i]
        # the fractional timestep of sigma (CompVisDenoiser.sigma_to_t)
        ls = math.log(s)
        hi = int(torch.searchsorted(log_sigmas, torch.tensor(ls)).clamp(1, 999))
        lo = hi - 1
        w = (ls - log_sigmas[lo].item()) / (log_sigmas[hi].item() - log_sigmas[lo].item())
        t = torch.full((2 * n,), lo + w)
        eps = unet(torch.cat([x, x]) / math.sqrt(s * s + 1), t, cond)
        eps = eps[n:] + cfg * (eps[:n] - eps[n:])
        x = x + eps * (sigmas[i + 1] - s)
    images = vae.decode(x / scale).clamp(-1, 1)
    return to_uint8(images)


# ---------------------------------------------------------------- main


def write_heldout(out, unet, text, vae, scale, tokenizer, cfg, log):
    """Renders the held-out prompts and the count prompts with the reference sampler (20
    Euler steps at guidance `cfg`) into train_samples/, and writes heldout_prompts.json
    (the prompts, their token ids, which mmgen's tokenizer must match, their seeds and the
    detector's verdicts: what mmgen's test renders) and generation_defaults.json (the
    settings mmgen samples the model with unless told otherwise). Returns the scores for
    train_stats.json: how many held-out prompts the detector accepts, and how many count
    prompts it accepts, with their shapes and with the shapes aside (the right number of
    objects of the right colour)."""
    sets = {}
    for name, label, stem, prompts, first_seed in (
            ("prompts", "held-out", "heldout", shapes_data.HELDOUT_PROMPTS, 0),
            ("count_prompts", "count", "count", shapes_data.COUNT_PROMPTS, 100)):
        seeds = range(first_seed, first_seed + len(prompts))
        images = sample(unet, text, vae, scale, tokenizer, prompts, seeds, steps=20, cfg=cfg)
        entries, hits, loose_hits = [], 0, 0
        for i, (prompt, seed, image) in enumerate(zip(prompts, seeds, images)):
            save_png(os.path.join(out, "train_samples", f"{stem}_{i:02d}.png"), image)
            ok, why = shapes_detector.check(image, prompt)
            loose_ok = shapes_detector.check(image, prompt, shapes=False)[0]
            hits += ok
            loose_hits += loose_ok
            entries.append({"prompt": prompt, "ids": tokenizer.framed(prompt), "seed": seed,
                            "torch_detector_ok": bool(ok), "torch_ok_shapes_aside": bool(loose_ok),
                            "detector": why})
            log(f"{label} {i}: {'ok ' if ok else 'MISS'} {prompt} ({why})")
        log(f"{label} prompts accepted by the detector at guidance {cfg}: {hits}/{len(entries)} "
            f"({loose_hits} with the shapes aside)")
        sets[name] = (entries, hits, loose_hits)
    write_json(os.path.join(out, "heldout_prompts.json"),
               {"sampler": "euler", "steps": 20, "cfg": cfg,
                **{name: entries for name, (entries, _, _) in sets.items()}})
    write_json(os.path.join(out, "generation_defaults.json"),
               {"num_inference_steps": 20, "guidance_scale": cfg, "sampler": "euler"})
    return {"heldout_accepted": sets["prompts"][1], "heldout_total": len(sets["prompts"][0]),
            "heldout_cfg": cfg, "count_accepted": sets["count_prompts"][1],
            "count_accepted_shapes_aside": sets["count_prompts"][2],
            "count_total": len(sets["count_prompts"][0])}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(ROOT, "models", "shapes-sd"))
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--images", type=int, default=20000)
    p.add_argument("--vae-steps", type=int, default=1200)
    p.add_argument("--vae-full-steps", type=int, default=200)
    p.add_argument("--vae-batch", type=int, default=32)
    p.add_argument("--vae-lr", type=float, default=1e-3)
    p.add_argument("--vae-kl", type=float, default=1e-6)
    p.add_argument("--vae-edge", type=float, default=0.0,
                   help="weight of the pixel-difference (edge) loss of the VAE")
    p.add_argument("--text-steps", type=int, default=3000,
                   help="steps of the text encoder's grid task before the UNet stage (0: none)")
    p.add_argument("--text-grid", type=int, default=16, help="cells per side of the grid task")
    p.add_argument("--text-subcells", type=int, default=1,
                   help="pixels per cell side the grid task regresses (grid x this = scene size: full detail)")
    p.add_argument("--text-batch", type=int, default=128)
    p.add_argument("--text-lr", type=float, default=2e-3)
    p.add_argument("--attention", choices=("4x4", "8x8"), default="8x8",
                   help="finest UNet level with cross-attention (8x8: 1.8x the step cost, learns "
                   "shapes in fewer steps)")
    p.add_argument("--latent-factor", type=int, choices=(4, 8), default=4,
                   help="pixels per latent cell side (8: SD's four-level VAE, 8x8 latents)")
    p.add_argument("--unet-channels",
                   default=",".join(str(c) for c in UNET_CONFIG["block_out_channels"]),
                   help="UNet widths from the finest level down (multiples of 32, the "
                   "GroupNorm group count)")
    p.add_argument("--unet-steps", type=int, default=6700)
    p.add_argument("--batch", type=int, default=32, help="captions per UNet step")
    p.add_argument("--repeats", type=int, default=2,
                   help="noisy pictures per caption in a step (batch x repeats in all)")
    p.add_argument("--lr", type=float, default=8e-4)
    p.add_argument("--lr-floor", type=float, default=0.25,
                   help="the UNet's final learning rate as a share of --lr (the cosine's floor; "
                   "a low floor freezes the corners before they are sharp)")
    p.add_argument("--ema", type=float, default=0.995,
                   help="decay of the weights' moving average (0.995: a ~140-step half-life)")
    p.add_argument("--uncond", type=float, default=0.1)
    p.add_argument("--cfg", type=float, default=2.0,
                   help="guidance scale of the evaluations and of the model's "
                   "generation_defaults.json (2: the best share on 400 fresh captions; 5 "
                   "loses about 20 points to squares drawn round)")
    p.add_argument("--high-noise", type=float, default=0.3,
                   help="share of each batch drawn from the upper half of the timesteps")
    p.add_argument("--x0-floor", type=float, default=1.0,
                   help="least weight of the clean-picture error at high noise (0: plain min-SNR)")
    p.add_argument("--snr-cap", type=float, default=5.0,
                   help="most weight of the clean-picture error at low noise (min-SNR's gamma)")
    p.add_argument("--offset-noise", type=float, default=0.15,
                   help="scale of the per-channel constant added to the training noise")
    p.add_argument("--precision", choices=("bf16", "f32"), default="bf16",
                   help="training products in bf16 under autocast, or f32")
    p.add_argument("--eval-every", type=int, default=2000,
                   help="log the detector's acceptance every N UNet steps (0: never)")
    p.add_argument("--vae-from", help="reuse the VAE of an earlier run's output folder")
    args = p.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    log_file = open(os.path.join(args.out, "train_log.txt"), "w")

    def log(message):
        print(message, flush=True)
        log_file.write(message + "\n")
        log_file.flush()

    total_start = time.time()
    tokenizer = ClipTokenizer(os.path.join(ROOT, "data", "clip", "bpe_simple_vocab_16e6.txt.gz"))
    args.empty_ids = tokenizer.framed("")
    images, captions = shapes_data.make_dataset(args.images, 64, args.seed)
    ids = torch.tensor([tokenizer.framed(c) for c in captions])
    log(f"{len(images)} scenes, {len(set(captions))} distinct captions "
        f"({time.time() - total_start:.0f} s)")

    if args.latent_factor == 8:
        # SD's own VAE layout (four levels, 8x8 latents): a shape is two or three latent
        # cells, so the decoder draws its outline and the UNet only says which shape.
        VAE_CONFIG["block_out_channels"] = [32, 64, 64, 64]
        VAE_CONFIG["down_block_types"] = ["DownEncoderBlock2D"] * 4
        VAE_CONFIG["up_block_types"] = ["UpDecoderBlock2D"] * 4
        UNET_CONFIG["sample_size"] = 8
    UNET_CONFIG["block_out_channels"] = [int(c) for c in args.unet_channels.split(",")]
    vae = AutoencoderKL(VAE_CONFIG)
    if args.vae_from:
        # Reuses the VAE of an earlier run with the same seed and scenes (to iterate on the
        # UNet); a shipped model is trained in one run without it.
        vae.load_state_dict(read_safetensors(
            os.path.join(args.vae_from, "vae", "diffusion_pytorch_model.safetensors")))
        vae_seconds = 0.0
    else:
        vae_seconds = train_vae(vae, images, args, log)
    vae = round_to_f16(vae).eval()
    os.makedirs(os.path.join(args.out, "vae"), exist_ok=True)
    write_safetensors(os.path.join(args.out, "vae", "diffusion_pytorch_model.safetensors"),
                      vae.state_dict())
    latents = encode_latents(vae, images)
    scale = float(1.0 / latents.std())
    latents = latents * scale
    with torch.no_grad():
        probe = to_pixels(images[:256])
        recon = vae.decode(vae.moments(probe)[0]).clamp(-1, 1)
        vae_psnr = float(10 * torch.log10(4 / F.mse_loss(recon, probe)))
        held_recon = vae.decode(vae.moments(to_pixels(heldout_scenes(64, args.seed + 9)))[0])
    # The detector on the VAE's own reconstructions bounds what any UNet can reach: a
    # square whose corners the decoder rounds is read as a circle.
    vae_accepted = detector_accepts(to_uint8(recon), captions[:len(recon)])
    vae_heldout = detector_accepts(to_uint8(held_recon), shapes_data.HELDOUT_PROMPTS)
    log(f"latent scale {scale:.5f}, VAE reconstruction PSNR {vae_psnr:.2f} dB, the detector "
        f"accepts {vae_accepted}/{len(recon)} reconstructed training scenes and "
        f"{vae_heldout}/20 reconstructed held-out scenes")

    # Cross-attention on every UNet level of at most --attention cells.
    finest = int(args.attention.split("x")[0])
    attends = [UNET_CONFIG["sample_size"] >> level <= finest for level in range(3)]
    UNET_CONFIG["down_block_types"] = ["CrossAttnDownBlock2D" if a else "DownBlock2D"
                                       for a in attends]
    UNET_CONFIG["up_block_types"] = ["CrossAttnUpBlock2D" if a else "UpBlock2D"
                                     for a in reversed(attends)]
    unet = UNet2DConditionModel(UNET_CONFIG)
    text = CLIPTextModel(TEXT_CONFIG)
    probe_captions = captions[:20]  # training captions, for comparison with the held-out ones

    def evaluate(unet, encode, step):
        def accepted(prompts, name):
            images = sample(unet, encode, vae, scale, tokenizer, prompts,
                            range(len(prompts)), cfg=args.cfg)
            # One picture of the 20, rows of five, to look at during training.
            save_png(os.path.join(args.out, "train_samples", f"{name}_step{step:05d}.png"),
                     picture_grid(images, 5))
            return detector_accepts(images, prompts)
        with torch.no_grad():
            held = accepted(shapes_data.HELDOUT_PROMPTS, "heldout")
            seen = accepted(probe_captions, "training")
        return f"detector accepts held-out {held}/20, training captions {seen}/20"

    def pretrain(text, local_ids, local):
        return pretrain_text(text, images, local_ids, tokenizer, local, args, log)

    ema_unet, ema_text, text_seconds, unet_seconds = train_unet(
        unet, text, latents, ids, args, log, evaluate, pretrain)
    unet, text = round_to_f16(ema_unet).eval(), round_to_f16(ema_text).eval()

    scores = write_heldout(args.out, unet, text, vae, scale, tokenizer, args.cfg, log)
    for part in ("unet", "vae", "text_encoder", "scheduler", "tokenizer"):
        os.makedirs(os.path.join(args.out, part), exist_ok=True)
    write_safetensors(os.path.join(args.out, "unet", "diffusion_pytorch_model.safetensors"),
                      unet.state_dict())
    write_safetensors(os.path.join(args.out, "text_encoder", "model.safetensors"),
                      text.state_dict())
    write_json(os.path.join(args.out, "unet", "config.json"), UNET_CONFIG)
    write_json(os.path.join(args.out, "vae", "config.json"),
               dict(VAE_CONFIG, scaling_factor=round(scale, 6)))
    write_json(os.path.join(args.out, "text_encoder", "config.json"), TEXT_CONFIG)
    write_json(os.path.join(args.out, "scheduler", "scheduler_config.json"), SCHEDULER_CONFIG)
    tokenizer.write_hf_files(os.path.join(args.out, "tokenizer"))
    write_json(os.path.join(args.out, "model_index.json"), {
        "_class_name": "StableDiffusionPipeline",
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "DDIMScheduler"],
    })
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    write_json(os.path.join(args.out, "train_stats.json"), {
        "seed": args.seed, "threads": args.threads, "scenes": len(images),
        "vae_steps": args.vae_steps, "vae_batch": args.vae_batch, "unet_steps": args.unet_steps,
        "batch": args.batch, "repeats": args.repeats, "x0_floor": args.x0_floor,
        "snr_cap": args.snr_cap,
        "high_noise_share": args.high_noise,
        "offset_noise": args.offset_noise, "lr": args.lr, "lr_floor": args.lr_floor,
        "ema": args.ema, "caption_dropout": args.uncond,
        "parameters": {"unet": count(unet), "vae": count(vae), "text_encoder": count(text)},
        "latent_scale": scale, "vae_psnr_db": round(vae_psnr, 2),
        "vae_reconstructions_accepted": [vae_accepted, len(recon)],
        "vae_heldout_reconstructions_accepted": [vae_heldout, 20], "vae_edge": args.vae_edge,
        **scores,
        "text_steps": args.text_steps, "text_grid": args.text_grid,
        "text_subcells": args.text_subcells,
        "cross_attention": UNET_CONFIG["down_block_types"],
        "seconds": {"vae": round(vae_seconds), "text": round(text_seconds),
                    "unet": round(unet_seconds),
                    "total": round(time.time() - total_start)},
        "precision": args.precision, "torch": torch.__version__,
    })
    log(f"done in {time.time() - total_start:.0f} s")


if __name__ == "__main__":
    main()
