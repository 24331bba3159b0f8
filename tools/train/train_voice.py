#!/usr/bin/python3
"""Trains espeak-vits: a small VITS voice (English and Mandarin) that speaks like espeak-ng.

The cheap plan (no monotonic alignment search, no posterior encoder, no discriminators),
possible because espeak-ng says how long every phoneme lasts (espeak_speech.py):

1. dec, the HiFi-GAN generator, is trained as a vocoder from z = the normalised log-mel
   of the real audio (inter_channels = mel bands) to the waveform, with multi-resolution
   STFT and mel L1 losses on short random segments.
2. enc_p, flow and dp are trained together: flow(z) is scored under N(m_p, exp(logs_p))
   expanded to frames by the known durations (mean-only couplings: log-det 0), and dp
   regresses log durations (MSE, VITS's deterministic predictor).
3. Writes the generator (reference key names, safetensors), config.json, one piper voice
   JSON per language, held-out samples, train_stats.json and train_log.txt.

Everything is reproducible from --seed; runs on the CPU with Debian's packages only.

  apt-get install espeak-ng-data libespeak-ng1 fortunes fortunes-zh python3-torch \\
      python3-numpy python3-regex python3-scipy
  /usr/bin/python3 tools/train/train_voice.py --out models/espeak-vits
"""

import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import espeak_speech  # noqa: E402
from train_common import (read_safetensors, safetensors_bytes,  # noqa: E402
                          set_warmup_cosine_lr, wav_bytes, write_atomic, write_json)
from vits_modules import VitsGenerator, sequence_mask  # noqa: E402

NAME = "espeak-vits"
VOICES = [("en-us", "en_US", f"{NAME}.onnx.json"), ("cmn", "cmn", f"{NAME}-cmn.onnx.json")]


def model_config(args):
    """The "model" block of config.json (piper's names; mmgen reads it)."""
    return {
        "n_vocab": espeak_speech.NUM_SYMBOLS, "inter_channels": args.mels,
        "hidden_channels": args.hidden, "filter_channels": 4 * args.hidden, "n_heads": 2,
        "n_layers": args.layers, "kernel_size": 3, "p_dropout": 0.1, "window_size": 4,
        "dp_filter_channels": 256, "use_sdp": False, "n_speakers": 0, "gin_channels": 0,
        "resblock": "2", "resblock_kernel_sizes": [3, 7, 11],
        "resblock_dilation_sizes": [[1, 3], [1, 3], [1, 3]],
        "upsample_rates": [8, 5, 4], "upsample_initial_channel": args.dec_channels,
        "upsample_kernel_sizes": [16, 11, 8],
    }


def data_config(args):
    return {"sampling_rate": args.sample_rate, "filter_length": args.n_fft,
            "hop_length": args.hop, "win_length": args.win, "n_mel_channels": args.mels,
            "mel_fmin": 0.0, "mel_fmax": args.sample_rate / 2, "add_blank": True,
            "n_speakers": 0, "text_cleaners": ["piper/espeak-ng"], "cleaned_text": True}


# ---------------------------------------------------------------- features


def mel_filterbank(sample_rate, n_fft, mels):
    """Slaney-style triangular filters on the HTK mel scale, area-normalised: [mels, bins]."""
    hz_to_mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    mel_to_hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    edges = mel_to_hz(np.linspace(0, hz_to_mel(sample_rate / 2), mels + 2))
    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    lower = (bins[None, :] - edges[:-2, None]) / (edges[1:-1] - edges[:-2])[:, None]
    upper = (edges[2:, None] - bins[None, :]) / (edges[2:] - edges[1:-1])[:, None]
    weights = np.maximum(0, np.minimum(lower, upper)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return torch.tensor(weights, dtype=torch.float32)


class MelSpectrogram:
    """log-mel frames of a waveform: frame i is centred on sample i * hop (reflect padding),
    len / hop frames for audio of a whole number of hops."""

    def __init__(self, args):
        self.n_fft, self.hop, self.win = args.n_fft, args.hop, args.win
        self.window = torch.hann_window(args.win)
        self.basis = mel_filterbank(args.sample_rate, args.n_fft, args.mels)

    def __call__(self, wav):
        """[B, samples] -> [B, mels, samples // hop]."""
        spec = torch.stft(wav, self.n_fft, self.hop, self.win, self.window, center=True,
                          pad_mode="reflect", return_complex=True).abs()
        mel = torch.matmul(self.basis, spec)[..., :wav.size(-1) // self.hop]
        return torch.log(torch.clamp(mel, min=1e-5))


def stft_magnitude(x, n_fft, hop, win):
    spec = torch.stft(x, n_fft, hop, win, torch.hann_window(win), return_complex=True)
    return torch.clamp(spec.abs(), min=1e-7)


def multi_resolution_stft_loss(y_hat, y):
    """Spectral convergence + log-magnitude L1, averaged over three resolutions."""
    total = 0.0
    for n_fft, hop, win in ((512, 128, 512), (1024, 256, 1024), (256, 64, 256)):
        m_hat, m = stft_magnitude(y_hat, n_fft, hop, win), stft_magnitude(y, n_fft, hop, win)
        total = total + torch.norm(m - m_hat) / torch.norm(m) + \
            F.l1_loss(torch.log(m_hat), torch.log(m))
    return total / 3


# ---------------------------------------------------------------- data


def speak_corpus(args, log):
    """Training utterances (espeak-ng, timed) and the held-out ones."""
    espeak = espeak_speech.Espeak()
    corpus = espeak_speech.build_corpus(args.english, args.mandarin, args.seed)
    train, dropped = [], 0
    for text, voice in corpus:
        item = espeak_speech.speak(espeak, text, voice, args.sample_rate, args.hop)
        dropped += item is None
        if item is not None:
            train.append(item)
    heldout = [espeak_speech.speak(espeak, t, "en-us", args.sample_rate, args.hop)
               for t in espeak_speech.HELDOUT_SENTENCES]
    if any(h is None for h in heldout):
        raise RuntimeError("a held-out sentence could not be timed")
    seconds = sum(len(i["audio"]) for i in train) / args.sample_rate
    log(f"data: {len(train)} utterances ({dropped} dropped), {seconds / 60:.1f} min of audio")
    return train, heldout


def add_features(items, mel, stats=None):
    """Adds item["z"] = the per-channel normalised log-mel [mels, frames]; returns the
    normalisation (mean, std) computed on these items unless given."""
    for item in items:
        with torch.no_grad():
            item["log_mel"] = mel(torch.from_numpy(item["audio"])[None])[0]
    if stats is None:
        every = torch.cat([i["log_mel"] for i in items], dim=1)
        stats = (every.mean(dim=1, keepdim=True), every.std(dim=1, keepdim=True))
    for item in items:
        item["z"] = (item["log_mel"] - stats[0]) / stats[1]
    return stats


# ---------------------------------------------------------------- stage 1: the decoder


def vocoder_batch(items, rng, batch, segment, hop):
    """Random segments: z [B, mels, segment] and their waveforms [B, segment * hop]."""
    zs, wavs = [], []
    for _ in range(batch):
        item = items[rng.randrange(len(items))]
        frames = item["z"].size(1)
        start = rng.randrange(max(frames - segment, 0) + 1)
        z = item["z"][:, start:start + segment]
        wav = torch.from_numpy(item["audio"][start * hop:(start + segment) * hop])
        zs.append(F.pad(z, (0, segment - z.size(1))))
        wavs.append(F.pad(wav, (0, segment * hop - wav.size(0))))
    return torch.stack(zs), torch.stack(wavs)


def vocoder_loss(dec, mel, z, wav):
    y_hat = dec(z)[:, 0]
    stft = multi_resolution_stft_loss(y_hat, wav)
    mel_l1 = F.l1_loss(mel(y_hat), mel(wav))
    return stft + mel_l1, stft.item(), mel_l1.item()


def train_decoder(model, items, heldout, mel, args, log):
    dec = model.dec
    optimizer = torch.optim.AdamW(dec.parameters(), lr=args.dec_lr, betas=(0.8, 0.99))
    rng = random.Random(args.seed + 1)
    start = time.time()
    for step in range(args.dec_steps):
        set_warmup_cosine_lr(optimizer, args.dec_lr, step, args.dec_steps, 100, 0.1)
        z, wav = vocoder_batch(items, rng, args.dec_batch, args.segment, args.hop)
        loss, stft, mel_l1 = vocoder_loss(dec, mel, z, wav)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(dec.parameters(), 10.0)
        optimizer.step()
        if step % args.log_every == 0 or step == args.dec_steps - 1:
            log(f"dec step {step}: stft {stft:.3f} mel L1 {mel_l1:.3f} "
                f"({(time.time() - start) / (step + 1):.2f} s/step)")
    seconds_per_step = (time.time() - start) / max(args.dec_steps, 1)
    with torch.no_grad():  # copy synthesis of the held-out audio
        z, wav = vocoder_batch(heldout, random.Random(0), 20, args.segment, args.hop)
        _, stft, mel_l1 = vocoder_loss(dec, mel, z, wav)
    log(f"dec held-out: stft {stft:.3f} mel L1 {mel_l1:.3f}")
    return {"dec_steps": args.dec_steps, "dec_seconds_per_step": seconds_per_step,
            "dec_heldout_stft_loss": stft, "dec_heldout_mel_l1": mel_l1}


# ---------------------------------------------------------------- stage 2: prior, flow, durations


def prior_batch(items):
    """Padded ids [B, T], their lengths, durations [B, T], z [B, mels, F], frame lengths."""
    lengths = torch.tensor([len(i["ids"]) for i in items])
    frames = torch.tensor([i["z"].size(1) for i in items])
    ids = torch.zeros(len(items), int(lengths.max()), dtype=torch.long)
    durations = torch.zeros(len(items), int(lengths.max()))
    z = torch.zeros(len(items), items[0]["z"].size(0), int(frames.max()))
    for b, item in enumerate(items):
        ids[b, :lengths[b]] = torch.tensor(item["ids"])
        durations[b, :lengths[b]] = torch.tensor(item["durations"], dtype=torch.float32)
        z[b, :, :frames[b]] = item["z"]
    return ids, lengths, durations, z, frames


def alignment(durations, frames):
    """[B, T] frame counts -> [B, T, F] one-hot paths (generate_path)."""
    ends = torch.cumsum(durations, dim=1)
    position = torch.arange(frames, dtype=durations.dtype)[None, None, :]
    return ((position >= (ends - durations)[..., None]) & (position < ends[..., None])).float()


def prior_losses(model, batch):
    """The flow's negative log-likelihood per dimension (without the constant) and the
    duration predictor's MSE on log(d - 0.5): a perfect prediction rounds up to d."""
    ids, lengths, durations, z, frames = batch
    x, m_p, logs_p, x_mask = model.enc_p(ids, lengths)
    path = alignment(durations, z.size(2))
    m_p, logs_p = torch.bmm(m_p, path), torch.bmm(logs_p, path)
    y_mask = sequence_mask(frames, z.size(2)).unsqueeze(1).float()
    z_p = model.flow(z, y_mask)
    nll = torch.sum((logs_p + 0.5 * (z_p - m_p) ** 2 * torch.exp(-2 * logs_p)) * y_mask)
    nll = nll / (torch.sum(y_mask) * z.size(1))
    logw = model.dp(x, x_mask)
    target = torch.log(torch.clamp(durations - 0.5, min=0.5)).unsqueeze(1)
    dur = torch.sum((logw - target) ** 2 * x_mask) / torch.sum(x_mask)
    return nll, dur


def train_prior(model, items, heldout, args, log):
    params = [p for name in ("enc_p", "flow", "dp") for p in getattr(model, name).parameters()]
    optimizer = torch.optim.AdamW(params, lr=args.prior_lr, betas=(0.8, 0.99), weight_decay=0.01)
    rng = random.Random(args.seed + 2)
    start = time.time()
    for step in range(args.prior_steps):
        set_warmup_cosine_lr(optimizer, args.prior_lr, step, args.prior_steps, 100, 0.1)
        nll, dur = prior_losses(model, prior_batch(rng.sample(items, args.prior_batch)))
        optimizer.zero_grad()
        (nll + dur).backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        optimizer.step()
        if step % args.log_every == 0 or step == args.prior_steps - 1:
            log(f"prior step {step}: nll {nll.item():.3f} duration MSE {dur.item():.3f} "
                f"({(time.time() - start) / (step + 1):.2f} s/step)")
    seconds_per_step = (time.time() - start) / max(args.prior_steps, 1)
    model.eval()
    with torch.no_grad():
        nll, dur = prior_losses(model, prior_batch(heldout))
    log(f"prior held-out: nll {nll.item():.3f} duration MSE {dur.item():.3f}")
    return {"prior_steps": args.prior_steps, "prior_seconds_per_step": seconds_per_step,
            "prior_heldout_nll": nll.item(), "prior_heldout_duration_mse": dur.item()}


# ---------------------------------------------------------------- files


def voice_json(args, espeak_voice, code):
    """A piper .onnx.json for one espeak-ng voice of the (shared) model."""
    return {"dataset": NAME, "audio": {"sample_rate": args.sample_rate, "quality": "x_low"},
            "espeak": {"voice": espeak_voice}, "language": {"code": code},
            "inference": {"noise_scale": args.noise_scale, "length_scale": 1.0, "noise_w": 0.8},
            "phoneme_type": "espeak", "phoneme_map": {},
            "phoneme_id_map": espeak_speech.PHONEME_ID_MAP,
            "num_symbols": espeak_speech.NUM_SYMBOLS, "num_speakers": 1, "speaker_id_map": {},
            "piper_version": "1.0.0"}


def export(model, args, heldout, stats):
    model.eval()
    # Stored in --dtype (f16 by default: 65 dB SNR against the f32 weights' speech); the
    # samples are rendered from the stored weights, so they are what the file says.
    dtype = torch.float16 if args.dtype == "f16" else torch.float32
    tensors = {k: v.to(dtype) for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    write_atomic(os.path.join(args.out, f"{NAME}.safetensors"), safetensors_bytes(
        tensors, {"format": "jaywalnut310/vits SynthesizerTrn generator (enc_p, dp, flow, dec)"}))
    write_json(os.path.join(args.out, "config.json"),
               {"data": data_config(args), "model": model_config(args),
                "train": {"seed": args.seed, "dec_steps": args.dec_steps,
                          "prior_steps": args.prior_steps}})
    for espeak_voice, code, name in VOICES:
        write_json(os.path.join(args.out, name), voice_json(args, espeak_voice, code))
    samples = os.path.join(args.out, "train_samples")
    os.makedirs(samples, exist_ok=True)
    for i, item in enumerate(heldout[:args.samples]):
        wav, _ = model.infer(item["ids"], noise_scale=0.0)
        write_atomic(os.path.join(samples, f"heldout_{i:02d}.wav"),
                     wav_bytes(wav.numpy(), args.sample_rate))
    write_json(os.path.join(args.out, "heldout.json"),
               [{"text": h["text"], "phonemes": h["phonemes"], "ids": h["ids"],
                 "durations": h["durations"]} for h in heldout])
    write_json(os.path.join(args.out, "train_stats.json"), stats)


def reexport(args, log):
    """The voice files of a trained --out rewritten from its weights and held-out set."""
    with open(os.path.join(args.out, "config.json")) as f:
        trained = json.load(f)
    if trained["model"] != model_config(args) or trained["data"] != data_config(args):
        sys.exit(f"{args.out}/config.json: trained with other sizes than these arguments give")
    model = VitsGenerator(model_config(args))
    weights = read_safetensors(os.path.join(args.out, f"{NAME}.safetensors"))
    model.load_state_dict({k: v.float() for k, v in weights.items()})
    with open(os.path.join(args.out, "heldout.json")) as f:
        heldout = json.load(f)
    with open(os.path.join(args.out, "train_stats.json")) as f:
        stats = json.load(f)
    export(model, args, heldout, stats)
    log(f"rewrote {args.out} from its weights ({args.dtype})")


# ---------------------------------------------------------------- main


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=f"models/{NAME}")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--english", type=int, default=1600, help="English training sentences")
    ap.add_argument("--mandarin", type=int, default=400, help="Mandarin training sentences")
    ap.add_argument("--sample-rate", type=int, default=16000)
    ap.add_argument("--hop", type=int, default=160, help="samples per frame (product of upsample rates)")
    ap.add_argument("--n-fft", type=int, default=1024)
    ap.add_argument("--win", type=int, default=640)
    ap.add_argument("--mels", type=int, default=80, help="mel bands = inter_channels")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4, help="text encoder layers")
    ap.add_argument("--dec-channels", type=int, default=128, help="upsample_initial_channel")
    ap.add_argument("--dec-steps", type=int, default=6000)
    ap.add_argument("--dec-batch", type=int, default=8)
    ap.add_argument("--segment", type=int, default=32, help="decoder training segment, frames")
    ap.add_argument("--dec-lr", type=float, default=1e-3)
    ap.add_argument("--prior-steps", type=int, default=1800)
    ap.add_argument("--prior-batch", type=int, default=8)
    ap.add_argument("--prior-lr", type=float, default=1e-3)
    ap.add_argument("--noise-scale", type=float, default=0.667)
    ap.add_argument("--samples", type=int, default=5, help="held-out sentences to render")
    ap.add_argument("--dtype", choices=("f16", "f32"), default="f16", help="stored weights")
    ap.add_argument("--export-only", action="store_true",
                    help="no training: rewrite the voice files of --out from its weights "
                         "(e.g. in another --dtype), with the same sizes as it was trained")
    ap.add_argument("--log-every", type=int, default=100)
    return ap.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    log_file = open(os.path.join(args.out, "train_log.txt"), "a" if args.export_only else "w")

    def log(message):
        line = f"[{time.strftime('%H:%M:%S')}] {message}"
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    assert math.prod(model_config(args)["upsample_rates"]) == args.hop, "hop != upsampling"
    if args.export_only:
        reexport(args, log)
        return
    began = time.time()
    train, heldout = speak_corpus(args, log)
    mel = MelSpectrogram(args)
    norm = add_features(train, mel)
    add_features(heldout, mel, norm)
    data_seconds = time.time() - began
    model = VitsGenerator(model_config(args))
    sizes = {n: sum(p.numel() for p in getattr(model, n).parameters())
             for n in ("enc_p", "dp", "flow", "dec")}
    log(f"parameters: {sizes}; data ready in {data_seconds:.0f} s")
    stats = {"seed": args.seed, "utterances": len(train), "data_seconds": data_seconds,
             "audio_minutes": sum(len(i["audio"]) for i in train) / args.sample_rate / 60,
             "parameters": sizes}
    stats.update(train_decoder(model, train, heldout, mel, args, log))
    stats.update(train_prior(model, train, heldout, args, log))
    stats["total_seconds"] = time.time() - began
    export(model, args, heldout, stats)
    log(f"wrote {args.out} in {stats['total_seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
