#!/usr/bin/python3
"""Intelligibility of a trained espeak-vits voice: pocketsphinx's word error rate on the
20 held-out sentences spoken by mmgen with the voice, beside its word error rate on
espeak-ng's own audio of the same sentences (the voice's target is within 15 points).

pocketsphinx (Debian's 0.8, en-us model) hears espeak-ng's robotic voice badly with its
general language model: 93% word errors on these sentences (--grammar lm), about what a
silent voice scores (100%), so that setting cannot tell speech from silence. The default,
--grammar pairs, lets it choose among the sentences and their one-word neighbours (each
word in turn replaced by the word at that place in the next two sentences; ~300
alternatives): a word it does not hear picks a neighbour. There espeak-ng's own audio
scores ~5%, and every sentence time-reversed (same sounds, no words) ~100%, which the
tool also reports as the control. tests/audio/default_voice_test.cpp runs the same check.

  apt-get install pocketsphinx pocketsphinx-en-us python3-scipy
  /usr/bin/python3 tools/train/voice_wer.py FOLDER --mmgen build/mmgen [--keep DIR]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import wave

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import espeak_speech  # noqa: E402
from train_common import wav_bytes, write_atomic  # noqa: E402

ASR_RATE = 16000  # pocketsphinx's en-us model


def words(text):
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def word_errors(reference, hypothesis):
    """Levenshtein distance between two word lists (substitutions, insertions, deletions)."""
    row = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hypothesis, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1]


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, f"{path}: 16-bit mono expected"
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        return data, w.getframerate()


def word_loop_grammar(path, sentences):
    """A JSGF grammar accepting any sequence of the sentences' words."""
    vocabulary = sorted({w for s in sentences for w in words(s)})
    write_atomic(path, ("#JSGF V1.0;\ngrammar heldout;\npublic <utterance> = ( "
                        + " | ".join(vocabulary) + " )* ;\n").encode())
    return path


def minimal_pairs_grammar(path, sentences):
    """A JSGF grammar of the sentences and their one-word neighbours (see above)."""
    split = [words(s) for s in sentences]
    alternatives = set()
    for i, sentence in enumerate(split):
        alternatives.add(" ".join(sentence))
        for j in range(len(sentence)):
            for k in (1, 2):
                other = split[(i + k) % len(split)]
                alternatives.add(" ".join(sentence[:j] + [other[j % len(other)]] + sentence[j + 1:]))
    write_atomic(path, ("#JSGF V1.0;\ngrammar heldout;\npublic <sentence> = "
                        + " | ".join(sorted(alternatives)) + " ;\n").encode())
    return path


def recognise(path, grammar):
    command = ["pocketsphinx_continuous", "-infile", path, "-logfn", "/dev/null"]
    if grammar:
        command += ["-jsgf", grammar]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return " ".join(line.strip() for line in out.splitlines() if line.strip())


def at_asr_rate(path):
    """The WAV at 16 kHz (resampled when needed) written beside the original."""
    samples, rate = read_wav(path)
    if rate == ASR_RATE:
        return path
    resampled = path[:-4] + "-16k.wav"
    write_atomic(resampled, wav_bytes(espeak_speech.resample(samples, rate, ASR_RATE), ASR_RATE))
    return resampled


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("folder", help="a train_voice.py output folder")
    p.add_argument("--mmgen", required=True, help="the mmgen executable")
    p.add_argument("--keep", help="folder to keep the WAVs in (default: a temporary one)")
    p.add_argument("--grammar", choices=("pairs", "words", "lm"), default="pairs",
                   help="recognise among the sentences and their one-word neighbours, with a "
                        "word loop over their vocabulary, or with pocketsphinx's general "
                        "language model")
    args = p.parse_args()

    weights = sorted(f for f in os.listdir(args.folder) if f.endswith(".safetensors"))
    if len(weights) != 1:
        sys.exit(f"{args.folder}: expected one .safetensors generator, found {len(weights)}")
    name = weights[0][: -len(".safetensors")]
    model = os.path.join(args.folder, weights[0])
    work = args.keep or tempfile.mkdtemp(prefix="voice_wer_")
    os.makedirs(work, exist_ok=True)
    grammar = None
    if args.grammar != "lm":
        make = minimal_pairs_grammar if args.grammar == "pairs" else word_loop_grammar
        grammar = make(os.path.join(work, "heldout.gram"), espeak_speech.HELDOUT_SENTENCES)
    espeak = espeak_speech.Espeak()
    totals = {"espeak-ng": [0, 0], "mmgen": [0, 0], "reversed": [0, 0]}
    for i, sentence in enumerate(espeak_speech.HELDOUT_SENTENCES):
        reference = words(sentence)
        own = os.path.join(work, f"espeak_{i:02d}.wav")
        samples, _ = espeak.synthesize(sentence, "en-us")
        write_atomic(own, wav_bytes(espeak_speech.resample(samples, espeak.rate, ASR_RATE), ASR_RATE))
        ours = os.path.join(work, f"mmgen_{i:02d}.wav")
        subprocess.run([args.mmgen, "tts", "-m", model, "-t", sentence, "-o", ours, "--seed",
                        str(i)], check=True, capture_output=True)
        ours = at_asr_rate(ours)
        backwards = os.path.join(work, f"reversed_{i:02d}.wav")
        write_atomic(backwards, wav_bytes(read_wav(ours)[0][::-1] / 32768.0, ASR_RATE))
        for source, path in (("espeak-ng", own), ("mmgen", ours), ("reversed", backwards)):
            heard = recognise(path, grammar)
            errors = word_errors(reference, words(heard))
            totals[source][0] += errors
            totals[source][1] += len(reference)
            print(f"{i:2d} {source:9s} {errors}/{len(reference)} '{heard}'")
    rates = {k: 100.0 * e / n for k, (e, n) in totals.items()}
    print(f"word error rate: espeak-ng's own audio {rates['espeak-ng']:.1f}%, "
          f"mmgen with {name} {rates['mmgen']:.1f}% "
          f"(difference {rates['mmgen'] - rates['espeak-ng']:+.1f} points; target <= +15); "
          f"control, mmgen's speech reversed: {rates['reversed']:.1f}%")


if __name__ == "__main__":
    main()
