"""CLIP's byte-level BPE tokenizer (openai/CLIP simple_tokenizer), from the vocabulary
file mmgen ships (data/clip/bpe_simple_vocab_16e6.txt.gz), and the Hugging Face
tokenizer files (vocab.json, merges.txt) a diffusers folder carries."""

import gzip
import json
import os

import regex

from train_common import bytes_to_unicode

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE)


class ClipTokenizer:
    def __init__(self, vocab_path):
        with gzip.open(vocab_path, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")
        self.merges = [tuple(line.split()) for line in lines[1:49152 - 256 - 2 + 1]]
        self.byte_encoder = bytes_to_unicode()
        vocab = list(self.byte_encoder.values())
        vocab += [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in self.merges]
        vocab += [BOS, EOS]
        self.vocab = vocab
        self.encoder = {v: i for i, v in enumerate(vocab)}
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        self.cache = {}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = [(self.ranks.get((a, b), 1 << 30), i)
                     for i, (a, b) in enumerate(zip(word, word[1:]))]
            rank, i = min(pairs)
            if rank == 1 << 30:
                break
            first, second = word[i], word[i + 1]
            merged, j = [], 0
            while j < len(word):
                if j < len(word) - 1 and word[j] == first and word[j + 1] == second:
                    merged.append(first + second)
                    j += 2
                else:
                    merged.append(word[j])
                    j += 1
            word = merged
        self.cache[token] = word
        return word

    def encode(self, text):
        text = " ".join(text.split()).strip().lower()
        ids = []
        for piece in PATTERN.findall(text):
            piece = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            ids += [self.encoder[t] for t in self.bpe(piece)]
        return ids

    def framed(self, text, length=77):
        """[BOS] + ids + [EOS], padded with EOS to length (SD 1.x's framing)."""
        ids = [self.encoder[BOS]] + self.encode(text)[:length - 2] + [self.encoder[EOS]]
        return ids + [self.encoder[EOS]] * (length - len(ids))

    def write_hf_files(self, folder):
        """vocab.json and merges.txt of a Hugging Face CLIPTokenizer, plus its configs."""
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(self.encoder, f, ensure_ascii=False)
        with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n")
            f.write("".join(f"{a} {b}\n" for a, b in self.merges))
        special = {"bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": EOS}
        with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
            json.dump(special, f, indent=2)
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            json.dump(dict(special, tokenizer_class="CLIPTokenizer", model_max_length=77,
                           do_lower_case=True), f, indent=2)
