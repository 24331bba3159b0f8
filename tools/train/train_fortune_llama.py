#!/usr/bin/python3
"""Trains fortune-llama: a small llama on Debian's fortunes and fortunes-zh texts.

Everything is reproducible from --seed: the held-out split, the byte-level BPE merges,
the initial weights and the batch order. Runs on the CPU with Debian's python3-torch.
Writes the GGUF, the held-out fixture and the numbers for the model card.

  apt-get install fortunes fortunes-zh python3-torch python3-regex
  /usr/bin/python3 tools/train/train_fortune_llama.py --out models/fortune-llama
"""

import argparse
import collections
import json
import math
import operator
import os
import random
import struct
import sys
import time

# OpenBLAS's own threads fight torch's OpenMP threads for the cores: steps run several
# times faster with torch's threads alone (set before torch loads OpenBLAS).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import regex  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_common import bytes_to_unicode, read_fortune_file, set_warmup_cosine_lr  # noqa: E402

# The "gpt-2" pre-tokenizer, exactly as mmgen's text/pre_tokenizer.cpp names it.
PRE_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"""
EOS = "<|endoftext|>"


# ---------------------------------------------------------------- data


def read_fortunes(directory):
    """Every fortune (the texts between '%' lines) of every file, sorted by file name."""
    fortunes = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.endswith((".dat", ".u8")) or os.path.islink(path) or not os.path.isfile(path):
            continue
        fortunes += [p.strip("\n").replace("\t", "    ") for p in read_fortune_file(path)]
    return fortunes


# ---------------------------------------------------------------- BPE


BYTE_CHARS = bytes_to_unicode()


def pre_tokenize(text):
    return [("".join(BYTE_CHARS[b] for b in w.encode("utf-8"))) for w in regex.findall(PRE_PATTERN, text)]


def train_bpe(texts, num_merges):
    """Byte-level BPE: repeatedly merges the most frequent adjacent pair (ties: the
    smallest pair), counting over distinct pre-tokenized words with incremental updates."""
    counts = collections.Counter()
    for t in texts:
        counts.update(pre_tokenize(t))
    words = [list(w) for w in counts]
    freq = [counts[w] for w in counts]
    pair_count = collections.Counter()
    where = collections.defaultdict(set)
    for i, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pair_count[(a, b)] += freq[i]
            where[(a, b)].add(i)
    merges = []
    for _ in range(num_merges):
        if not pair_count:
            break
        # Ties go to the pair counted first: deterministic, as dicts keep insertion order.
        best = max(pair_count.items(), key=operator.itemgetter(1))[0]
        merges.append(best)
        joined = best[0] + best[1]
        for i in list(where[best]):
            w = words[i]
            for a, b in zip(w, w[1:]):
                pair_count[(a, b)] -= freq[i]
                if pair_count[(a, b)] <= 0:
                    del pair_count[(a, b)]
            out, j = [], 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == best[0] and w[j + 1] == best[1]:
                    out.append(joined)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = out
            for a, b in zip(out, out[1:]):
                pair_count[(a, b)] += freq[i]
                where[(a, b)].add(i)
        del where[best]
    return merges


class Tokenizer:
    def __init__(self, merges):
        self.merges = merges
        self.rank = {m: r for r, m in enumerate(merges)}
        self.tokens = [BYTE_CHARS[b] for b in range(256)] + [a + b for a, b in merges] + [EOS]
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        self.eos = self.ids[EOS]
        self.cache = {}

    def encode_word(self, w):
        if w in self.cache:
            return self.cache[w]
        parts = list(w)
        while len(parts) > 1:
            ranks = [self.rank.get((a, b), 1 << 30) for a, b in zip(parts, parts[1:])]
            r = min(ranks)
            if r == 1 << 30:
                break
            j = ranks.index(r)
            parts[j:j + 2] = [parts[j] + parts[j + 1]]
        ids = [self.ids[p] for p in parts]
        self.cache[w] = ids
        return ids

    def encode(self, text):
        out = []
        for w in pre_tokenize(text):
            out.extend(self.encode_word(w))
        return out

    def decode(self, ids):
        """UTF-8 text of ids (<|endoftext|> left out; a split character shows as U+FFFD)."""
        byte_of = {c: b for b, c in BYTE_CHARS.items()}
        return b"".join(bytes([byte_of[ch] for ch in self.tokens[i]])
                        for i in ids if i != self.eos).decode("utf-8", errors="replace")


# ---------------------------------------------------------------- model


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_interleaved(x, cos, sin):
    """Rotates the pairs (2i, 2i+1) of each head: llama.cpp's normal (non-NeoX) RoPE,
    which is what mmgen applies to llama GGUF q/k rows as stored."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, ff = c["dim"], c["ff"]
        self.heads, self.head_dim = c["heads"], d // c["heads"]
        self.attn_norm = RMSNorm(d, c["eps"])
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        self.ffn_norm = RMSNorm(d, c["eps"])
        self.gate = nn.Linear(d, ff, bias=False)
        self.up = nn.Linear(d, ff, bias=False)
        self.down = nn.Linear(ff, d, bias=False)

    def forward(self, x, cos, sin):
        B, T, D = x.shape
        h = self.attn_norm(x)
        split = lambda t: t.view(B, T, self.heads, self.head_dim).transpose(1, 2)
        q = rope_interleaved(split(self.q(h)), cos, sin)
        k = rope_interleaved(split(self.k(h)), cos, sin)
        v = split(self.v(h))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        a = scores.masked_fill(mask, float("-inf")).softmax(-1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(B, T, D))
        h = self.ffn_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed = nn.Embedding(c["vocab"], c["dim"])
        self.blocks = nn.ModuleList(Block(c) for _ in range(c["layers"]))
        self.norm = RMSNorm(c["dim"], c["eps"])
        self.head = nn.Linear(c["dim"], c["vocab"], bias=False)
        hd = c["dim"] // c["heads"]
        inv = 1.0 / (c["rope_base"] ** (torch.arange(0, hd, 2).float() / hd))
        ang = torch.arange(c["ctx"]).float()[:, None] * inv[None, :]
        self.register_buffer("cos", ang.cos(), persistent=False)
        self.register_buffer("sin", ang.sin(), persistent=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
        for b in self.blocks:  # scaled residual projections (GPT-2)
            nn.init.normal_(b.o.weight, std=0.02 / math.sqrt(2 * c["layers"]))
            nn.init.normal_(b.down.weight, std=0.02 / math.sqrt(2 * c["layers"]))

    def forward(self, ids):
        T = ids.shape[1]
        x = self.embed(ids)
        for b in self.blocks:
            x = b(x, self.cos[:T], self.sin[:T])
        return self.head(self.norm(x))


# ---------------------------------------------------------------- GGUF


def gguf_string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def gguf_value(v):
    """(type id, payload) for the value kinds this file uses."""
    if isinstance(v, bool):
        return 7, struct.pack("<?", v)
    if isinstance(v, int):
        return 4, struct.pack("<I", v)
    if isinstance(v, float):
        return 6, struct.pack("<f", v)
    if isinstance(v, str):
        return 8, gguf_string(v)
    if isinstance(v, list):
        if all(isinstance(e, str) for e in v):
            return 9, struct.pack("<IQ", 8, len(v)) + b"".join(gguf_string(e) for e in v)
        return 9, struct.pack("<IQ", 5, len(v)) + struct.pack("<%di" % len(v), *v)
    raise TypeError(v)


def write_gguf(path, metadata, tensors, alignment=32):
    """tensors: (name, numpy array f16 or f32) in file order; dims are written fastest first."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata)))
    for key, value in metadata.items():
        t, payload = gguf_value(value)
        out += gguf_string(key) + struct.pack("<I", t) + payload
    offset, blobs = 0, []
    for name, a in tensors:
        out += gguf_string(name) + struct.pack("<I", a.ndim)
        out += struct.pack("<%dQ" % a.ndim, *reversed(a.shape))
        out += struct.pack("<IQ", 1 if a.dtype == np.float16 else 0, offset)
        blob = np.ascontiguousarray(a).tobytes()
        blobs.append(blob)
        offset += (len(blob) + alignment - 1) // alignment * alignment
    out += b"\0" * (-len(out) % alignment)
    for blob in blobs:
        out += blob + b"\0" * (-len(blob) % alignment)
    with open(path, "wb") as f:
        f.write(out)


def export(model, tok, c, path):
    f16 = lambda t: t.detach().float().numpy().astype(np.float16)
    f32 = lambda t: t.detach().float().numpy().astype(np.float32)
    tensors = [("token_embd.weight", f16(model.embed.weight))]
    for i, b in enumerate(model.blocks):
        p = "blk.%d." % i
        tensors += [(p + "attn_norm.weight", f32(b.attn_norm.weight)),
                    (p + "attn_q.weight", f16(b.q.weight)), (p + "attn_k.weight", f16(b.k.weight)),
                    (p + "attn_v.weight", f16(b.v.weight)), (p + "attn_output.weight", f16(b.o.weight)),
                    (p + "ffn_norm.weight", f32(b.ffn_norm.weight)),
                    (p + "ffn_gate.weight", f16(b.gate.weight)), (p + "ffn_up.weight", f16(b.up.weight)),
                    (p + "ffn_down.weight", f16(b.down.weight))]
    tensors += [("output_norm.weight", f32(model.norm.weight)), ("output.weight", f16(model.head.weight))]
    hd = c["dim"] // c["heads"]
    metadata = {
        "general.architecture": "llama",
        "general.name": "fortune-llama",
        "general.file_type": 1,
        "llama.context_length": c["ctx"],
        "llama.embedding_length": c["dim"],
        "llama.block_count": c["layers"],
        "llama.feed_forward_length": c["ff"],
        "llama.rope.dimension_count": hd,
        "llama.rope.freq_base": float(c["rope_base"]),
        "llama.attention.head_count": c["heads"],
        "llama.attention.head_count_kv": c["heads"],
        "llama.attention.layer_norm_rms_epsilon": float(c["eps"]),
        "llama.vocab_size": c["vocab"],
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": "gpt-2",
        "tokenizer.ggml.tokens": tok.tokens,
        "tokenizer.ggml.token_type": [1] * (len(tok.tokens) - 1) + [3],
        "tokenizer.ggml.merges": ["%s %s" % m for m in tok.merges],
        "tokenizer.ggml.bos_token_id": tok.eos,
        "tokenizer.ggml.eos_token_id": tok.eos,
        "tokenizer.ggml.add_bos_token": True,
        "tokenizer.ggml.add_eos_token": False,
    }
    write_gguf(path, metadata, tensors)


# ---------------------------------------------------------------- training


def perplexity(model, sequences, ctx):
    """exp(mean NLL) over every predicted token; each sequence is [eos] + text ids."""
    model.eval()
    nll, n = 0.0, 0
    with torch.no_grad():
        for s in sequences:
            s = s[:ctx]
            if len(s) < 2:
                continue
            ids = torch.tensor([s])
            logits = model(ids[:, :-1])
            nll += F.cross_entropy(logits[0], ids[0, 1:], reduction="sum").item()
            n += len(s) - 1
    model.train()
    return math.exp(nll / n), n


@torch.no_grad()
def continue_text(model, tok, c, prompt, n, temperature=0.0, top_k=0, gen=None):
    """prompt and up to n more tokens (greedy, or sampled with temperature and top-k),
    stopping at <|endoftext|>."""
    ids = [tok.eos] + tok.encode(prompt)
    for _ in range(n):
        logits = model(torch.tensor([ids[-c["ctx"]:]]))[0, -1]
        if temperature > 0:
            top = torch.topk(logits / temperature, top_k)
            pick = torch.multinomial(torch.softmax(top.values, -1), 1, generator=gen)
            next_id = int(top.indices[pick])
        else:
            next_id = int(logits.argmax())
        if next_id == tok.eos:
            break
        ids.append(next_id)
    return tok.decode(ids)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/games/fortunes")
    ap.add_argument("--out", default="models/fortune-llama")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--merges", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=1800)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dim", type=int, default=192, help="hidden size")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--ff", type=int, default=512, help="SwiGLU inner size")
    ap.add_argument("--eval-every", type=int, default=250,
                    help="log the perplexity of 100 held-out fortunes every N steps (0: never)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    t0 = time.time()

    fortunes = read_fortunes(args.data)
    random.Random(args.seed).shuffle(fortunes)
    n_held = len(fortunes) // 20
    held, train = fortunes[:n_held], fortunes[n_held:]
    merges = train_bpe(train, args.merges)
    tok = Tokenizer(merges)
    print("fortunes: %d train, %d held out; BPE %d merges in %.0fs" %
          (len(train), len(held), len(merges), time.time() - t0), flush=True)

    stream = []
    for f in train:
        stream += [tok.eos] + tok.encode(f)
    data = torch.tensor(stream, dtype=torch.long)
    print("training tokens: %d" % len(data), flush=True)

    c = dict(vocab=len(tok.tokens), dim=args.dim, layers=args.layers, heads=args.heads, ff=args.ff, ctx=256,
             eps=1e-5, rope_base=10000.0)
    model = Llama(c)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    # The first 300 held-out fortunes keep the evaluation short on a slow CPU.
    held_seqs = [[tok.eos] + tok.encode(f) for f in held[:300]]
    gen = torch.Generator().manual_seed(args.seed)
    warmup = max(1, args.steps // 20)
    t1 = time.time()
    for step in range(args.steps):
        lr = set_warmup_cosine_lr(opt, args.lr, step, args.steps, warmup, floor=0.1)
        starts = torch.randint(0, len(data) - args.seq - 1, (args.batch,), generator=gen)
        batch = torch.stack([data[s:s + args.seq + 1] for s in starts])
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, c["vocab"]), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 25 == 0 or step == args.steps - 1:
            print("step %d loss %.3f lr %.2e %.0fs" % (step, loss.item(), lr, time.time() - t1), flush=True)
        if args.eval_every and (step + 1) % args.eval_every == 0:
            # A quick look at over-fitting: the final figure uses 300 fortunes and f16 weights.
            quick, _ = perplexity(model, held_seqs[:100], c["ctx"])
            print("step %d held-out perplexity (100 fortunes) %.2f" % (step + 1, quick), flush=True)
    train_s = time.time() - t1

    # Evaluate the exported (f16) weights, as mmgen will run them.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.copy_(p.half().float())
    ppl, n_tok = perplexity(model, held_seqs, c["ctx"])
    # The fixture: a few short English held-out fortunes, one per line, for mmgen's test.
    fixture = [f for f in held if "\n" not in f and f.isascii() and 40 <= len(f) <= 200][:8]
    fix_ppl, fix_tok = perplexity(model, [[tok.eos] + tok.encode(f) for f in fixture], c["ctx"])
    print("held-out perplexity %.3f over %d tokens; fixture %.4f over %d tokens" % (ppl, n_tok, fix_ppl, fix_tok))

    os.makedirs(args.out, exist_ok=True)
    export(model, tok, c, os.path.join(args.out, "fortune-llama.gguf"))
    with open(os.path.join(args.out, "heldout.txt"), "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in fixture))
    # Greedy and sampled continuations for the card.
    model.eval()
    sample = continue_text(model, tok, c, "The", 40)
    gen = torch.Generator().manual_seed(args.seed)
    sampled = [continue_text(model, tok, c, prompt, 60, temperature=0.8, top_k=40, gen=gen)
               for prompt in ("The", "A man", "Life is")]
    stats = dict(seed=args.seed, config=c, steps=args.steps, batch=args.batch, seq=args.seq, lr=args.lr,
                 train_fortunes=len(train), heldout_fortunes=len(held), train_tokens=len(data),
                 heldout_tokens=n_tok, heldout_perplexity=ppl, fixture_perplexity=fix_ppl,
                 fixture_tokens=fix_tok, final_loss=loss.item(), train_seconds=train_s,
                 total_seconds=time.time() - t0, greedy_sample=sample,
                 samples_temperature_0_8_top_k_40=sampled,
                 parameters=sum(p.numel() for p in model.parameters()))
    with open(os.path.join(args.out, "train_stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    print(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
