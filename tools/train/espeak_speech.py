#!/usr/bin/python3
"""Training speech for the espeak-vits voice: espeak-ng itself reads sentences aloud.

espeak-ng (libespeak-ng.so.1 through ctypes) does two things here, with the same global
state mmgen's audio/phonemizer.cpp uses:

- phonemize(text, voice): mmgen's front end step for step (espeak_TextToPhonemes clause
  by clause in IPA mode, NFD, language flags "(en)" dropped, ". ? !" end a sentence,
  ", : ;" add the mark and a space), then piper's ids "^ _ (p _)* $";
- synthesize(text): the waveform (22050 Hz, resampled to --sample-rate) and the PHONEME
  events of the synthesis, whose sample positions time every phoneme exactly.

durations_for_ids() turns the events into one frame count per id (rule in its comment);
they sum to the audio's frame count. build_corpus() draws English sentences from Debian's
`fortunes` and Mandarin ones from `fortunes-zh`, never the 20 HELDOUT_SENTENCES.

  /usr/bin/python3 tools/train/espeak_speech.py --text "Hello world." --voice en-us
"""

import argparse
import ctypes
import json
import os
import random
import unicodedata

import numpy as np
import regex
from scipy.signal import resample_poly

from train_common import read_fortune_file

# ---------------------------------------------------------------- piper's phoneme ids

# piper's default phoneme_id_map (piper_phonemize's DEFAULT_PHONEME_ID_MAP): symbol i has
# id i. Every piper voice trained from espeak-ng phonemes uses it.
PIPER_SYMBOLS = (
    "_^$ !'(),-.:;?abcdefhijklmnopqrstuvwxyzæçðøħŋœǀǁǂǃɐɑɒɓɔɕɖɗɘəɚɛɜɞɟɠɡɢɣɤɥɦɧɨɪɫɬɭɮɯɰɱɲɳ"
    "ɴɵɶɸɹɺɻɽɾʀʁʂʃʄʈʉʊʋʌʍʎʏʐʑʒʔʕʘʙʛʜʝʟʡʢʲˈˌːˑ˞βθχᵻⱱ0123456789\u0327\u0303\u032a\u032f\u0329ʰˤε↓#"
    "\"↑\u033a\u033bgʦX\u031d\u030a")
PHONEME_ID_MAP = {symbol: [i] for i, symbol in enumerate(PIPER_SYMBOLS)}
NUM_SYMBOLS = 256  # piper's embedding table size (ids above 158 are unused)
BOS, EOS, PAD = "^", "$", "_"


def phonemes_to_ids(phonemes):
    """^ _ (p _)* $ (audio/phoneme_ids.cpp); phonemes without an id are skipped."""
    ids = PHONEME_ID_MAP[BOS] + PHONEME_ID_MAP[PAD]
    for p in phonemes:
        if p in PHONEME_ID_MAP:
            ids = ids + PHONEME_ID_MAP[p] + PHONEME_ID_MAP[PAD]
    return ids + PHONEME_ID_MAP[EOS]


# ---------------------------------------------------------------- espeak-ng through ctypes

AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
INITIALIZE_PHONEME_IPA = 0x0002
INITIALIZE_DONT_EXIT = 0x8000
CHARS_AUTO, CHARS_UTF8 = 0, 1
PHONEME_MODE_IPA = 0x02  # espeak_TextToPhonemes: IPA names, no separators
EVENT_LIST_TERMINATED, EVENT_PHONEME = 0, 7


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """espeak_EVENT of speak_lib.h."""
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                  ctypes.POINTER(_Event))


class Espeak:
    """One espeak-ng, initialised for synchronous synthesis with IPA phoneme events."""

    def __init__(self):
        self.lib = ctypes.CDLL("libespeak-ng.so.1")
        self.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int,
                                                   ctypes.c_int]
        self.rate = self.lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, None,
            INITIALIZE_PHONEME_EVENTS | INITIALIZE_PHONEME_IPA | INITIALIZE_DONT_EXIT)
        if self.rate <= 0:
            raise RuntimeError("espeak-ng: cannot initialise (install espeak-ng-data)")
        self._samples, self._events = [], []
        self._callback = _SynthCallback(self._collect)  # kept alive while espeak-ng holds it
        self.lib.espeak_SetSynthCallback(self._callback)
        self.voice = None

    def _collect(self, wav, count, events):
        if wav and count > 0:
            self._samples.append(np.ctypeslib.as_array(wav, (count,)).copy())
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            e = events[i]
            if e.type == EVENT_PHONEME:
                name = bytes(e.id.string).split(b"\0")[0].decode("utf-8", "replace")
                self._events.append((name, e.sample))
            i += 1
        return 0

    def set_voice(self, voice):
        if voice != self.voice:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise RuntimeError(f"espeak-ng has no voice '{voice}'")
            self.voice = voice

    def synthesize(self, text, voice):
        """int16 samples at self.rate and [(IPA name, start sample)] of the PHONEME events."""
        self.set_voice(voice)
        self._samples, self._events = [], []
        data = text.encode("utf-8")
        self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, CHARS_UTF8, None, None)
        samples = np.concatenate(self._samples) if self._samples else np.zeros(0, np.int16)
        return samples, self._events

    def phonemize(self, text, voice):
        """mmgen's phonemize(): the phonemes (one codepoint each) of every sentence."""
        self.set_voice(voice)
        data = text.encode("utf-8")
        buffer = ctypes.create_string_buffer(data)  # espeak-ng may write into its copy
        base = ctypes.addressof(buffer)
        cursor = ctypes.c_void_p(base)
        sentences, sentence = [], None
        while cursor.value:
            ipa = self.lib.espeak_TextToPhonemes(ctypes.byref(cursor), CHARS_AUTO, PHONEME_MODE_IPA)
            resume = cursor.value - base if cursor.value else len(data) + 1
            terminator = clause_terminator(data, resume)
            if sentence is None:
                sentence = []
                sentences.append(sentence)
            if ipa is not None:
                sentence.extend(without_language_flags(
                    unicodedata.normalize("NFD", ipa.decode("utf-8", "replace"))))
            if terminator in (".", "?", "!"):
                sentence.append(terminator)
                sentence = None
            elif terminator in (",", ":", ";"):
                sentence.extend([terminator, " "])
        return [s for s in sentences if s]


def clause_terminator(data, resume):
    """The last non-space byte at or before resume - 2 (espeak-ng consumed the terminator
    and the character after it), as audio/phonemizer.cpp recovers it; None for none (or a
    byte of a multi-byte character, which ends nothing there either)."""
    for i in range(resume - 2, 0, -1):
        if i < len(data) and data[i] != ord(" "):
            return chr(data[i]) if data[i] < 128 else None
    return None


def without_language_flags(ipa):
    """Drops espeak-ng's "(en)" ... "(cmn)" language switch flags, keeps what is between."""
    out, in_flag = [], False
    for c in ipa:
        if in_flag:
            in_flag = c != ")"
        elif c == "(":
            in_flag = True
        else:
            out.append(c)
    return out


def resample(samples, rate_in, rate_out):
    """int16 -> float32 in [-1, 1] at rate_out (polyphase, Kaiser-windowed)."""
    x = samples.astype(np.float32) / 32768.0
    if rate_in == rate_out:
        return x
    g = np.gcd(rate_in, rate_out)
    return resample_poly(x, rate_out // g, rate_in // g).astype(np.float32)


# ---------------------------------------------------------------- phoneme durations


def event_codepoints(events, total, scale):
    """Per event codepoint: (codepoint, start, end) in output samples. An event's time is
    shared evenly by its codepoints ("oʊ": o then ʊ). Pauses (empty names) and language
    flags ("(en)") give silence spans: (None, start, end)."""
    out = []
    for i, (name, start) in enumerate(events):
        end = events[i + 1][1] if i + 1 < len(events) else total / scale
        s, e = start * scale, end * scale
        points = [] if name.startswith("(") else list(unicodedata.normalize("NFD", name))
        if not points:
            out.append((None, s, e))
            continue
        step = (e - s) / len(points)
        out += [(c, s + k * step, s + (k + 1) * step) for k, c in enumerate(points)]
    return out


def align(target, spoken):
    """Longest common subsequence of two codepoint lists: {target index: spoken index}."""
    n, m = len(target), len(spoken)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        row, below = table[i], table[i + 1]
        for j in range(m - 1, -1, -1):
            row[j] = below[j + 1] + 1 if target[i] == spoken[j] else max(below[j], row[j + 1])
    pairs, i, j = {}, 0, 0
    while i < n and j < m:
        if target[i] == spoken[j]:
            pairs[i] = j
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def durations_for_ids(phonemes, events, total_samples, scale, hop):
    """Frames per id of ^ _ (p _)* $, summing to ceil(total_samples / hop); None when the
    synthesis and the phonemes disagree too much (under 90% of either side matched).

    The rule: a phoneme matched to a spoken codepoint owns that codepoint's time. The time
    between two matched phonemes (pauses, codepoints spoken but not written) goes evenly to
    the ids written between them other than pads (stress marks, spaces, punctuation, the
    ^ before the first and the $ after the last), or to the earlier phoneme when there is
    none. Pads own no time. Every id then gets one frame (inference rounds durations up, so
    no id is ever shorter) and the frames left over go to the time beyond one frame each
    id owns, by cumulative rounding (see round_to_frames)."""
    phonemes = [p for p in phonemes if p in PHONEME_ID_MAP]
    spoken = event_codepoints(events, total_samples, scale)
    letters = [k for k, (c, _, _) in enumerate(spoken) if c is not None]
    pairs = align(phonemes, [spoken[k][0] for k in letters])
    written = [k for k, p in enumerate(phonemes) if p not in "ˈˌ ,.;:?!"]
    if len(pairs) < 0.9 * max(len(letters), 1) or len(pairs) < 0.9 * max(len(written), 1):
        return None

    # ids: (kind, phoneme index) in id order.
    units = [("bos", -1), ("pad", -1)]
    for k in range(len(phonemes)):
        units += [("phoneme", k), ("pad", k)]
    units.append(("eos", -1))
    width = [0.0] * len(units)
    run, cursor, last_matched = [], 0.0, None
    for u, (kind, k) in enumerate(units):
        if kind == "phoneme" and k in pairs:
            _, start, end = spoken[letters[pairs[k]]]
            share_gap(width, run, last_matched, start - cursor)
            width[u] = end - start
            run, cursor, last_matched = [], end, u
        elif kind != "pad":
            run.append(u)
    share_gap(width, run, last_matched, total_samples - cursor)
    return round_to_frames(width, total_samples, hop)


def share_gap(width, run, last_matched, gap):
    if run:
        for u in run:
            width[u] += gap / len(run)
    elif last_matched is not None:
        width[last_matched] += gap


def round_to_frames(width, total_samples, hop):
    """One frame per id plus a share of the rest: the frames beyond one per id are dealt
    out in proportion to each id's time beyond one frame, rounded cumulatively, so the
    sum is exactly ceil(total_samples / hop) and zero-time ids (pads, stress marks) cost
    their neighbours a little each instead of shifting everything after them."""
    frames, count = -(-total_samples // hop), len(width)
    if frames < count:
        return None
    excess = [max(w / hop - 1.0, 0.0) for w in width]
    scale = (frames - count) / max(sum(excess), 1e-9)
    durations, cumulative, given = [], 0.0, 0
    for e in excess:
        cumulative += e * scale
        extra = int(round(cumulative)) - given
        durations.append(1 + extra)
        given += extra
    durations[-1] += frames - count - given
    return durations


# ---------------------------------------------------------------- sentences

# Never drawn for training: the voice's intelligibility test reads them.
HELDOUT_SENTENCES = [
    "The cat sat on the warm mat.",
    "Please open the window before you leave.",
    "My brother plays the piano every evening.",
    "We walked along the river in the morning.",
    "The old man sold fresh bread at the market.",
    "She put the green book on the table.",
    "It will rain tomorrow in the north.",
    "The children sang a song at school.",
    "He drinks a cup of black coffee every day.",
    "The train leaves the station at noon.",
    "Turn left at the next corner.",
    "Our dog likes to sleep by the fire.",
    "The sun rose over the quiet hills.",
    "They bought a small house near the sea.",
    "Can you help me carry this heavy box?",
    "The doctor asked him to rest for a week.",
    "I found my keys under the red chair.",
    "The birds fly south when winter comes.",
    "Write your name at the top of the page.",
    "This road leads to the little village.",
]

FORTUNES = "/usr/share/games/fortunes"
ENGLISH_FILES = ["fortunes", "literature", "people", "wisdom", "platitudes", "songs-poems",
                 "kids", "food", "pets", "science", "education", "humorists", "love",
                 "miscellaneous", "work", "riddles", "startrek", "sports", "men-women"]
CHINESE_FILES = ["chinese", "tang300", "song100"]


def read_fortunes(name):
    path = os.path.join(FORTUNES, name)
    return read_fortune_file(path) if os.path.isfile(path) else []


def english_sentences():
    """Plain sentences of 4 to 16 words (letters and simple punctuation only)."""
    out = set()
    for name in ENGLISH_FILES:
        for fortune in read_fortunes(name):
            text = " ".join(fortune.split())
            for s in regex.split(r"(?<=[.?!])\s+", text):
                if regex.fullmatch(r"[A-Z][A-Za-z ,;:'-]*[a-z][.?!]", s) and 4 <= len(s.split()) <= 16:
                    out.add(s)
    return sorted(out - set(HELDOUT_SENTENCES))


def mandarin_sentences():
    """Clauses of 4 to 12 Han characters from the Chinese fortunes and poems, each ended
    with "。"."""
    out = set()
    for name in CHINESE_FILES:
        for fortune in read_fortunes(name):
            for clause in regex.split(r"[^\p{Han}]+", fortune):
                if 4 <= len(clause) <= 12:
                    out.add(clause + "。")
    return sorted(out)


def build_corpus(english, mandarin, seed):
    """[(text, espeak voice)]: `english` + `mandarin` sentences drawn with `seed`."""
    rng = random.Random(seed)
    en, zh = english_sentences(), mandarin_sentences()
    if len(en) < english or len(zh) < mandarin:
        raise RuntimeError(f"{len(en)} English and {len(zh)} Mandarin sentences found, "
                           f"{english} and {mandarin} wanted (apt-get install fortunes fortunes-zh)")
    return [(t, "en-us") for t in rng.sample(en, english)] + \
        [(t, "cmn") for t in rng.sample(zh, mandarin)]


def speak(espeak, text, voice, sample_rate, hop):
    """One training utterance, or None when the text is not exactly one sentence or its
    timing cannot be reconciled: audio float32 [frames * hop], ids, durations (frames)."""
    sentences = espeak.phonemize(text, voice)
    if len(sentences) != 1:
        return None
    samples, events = espeak.synthesize(text, voice)
    audio = resample(samples, espeak.rate, sample_rate)
    durations = durations_for_ids(sentences[0], events, len(audio), sample_rate / espeak.rate, hop)
    if durations is None:
        return None
    frames = sum(durations)
    audio = np.pad(audio, (0, frames * hop - len(audio)))
    return {"text": text, "voice": voice, "phonemes": "".join(sentences[0]),
            "ids": phonemes_to_ids(sentences[0]), "durations": durations, "audio": audio}


def main():
    ap = argparse.ArgumentParser(description="Speak a sentence with espeak-ng and time its ids.")
    ap.add_argument("--text", default="Hello world, this is a test.")
    ap.add_argument("--voice", default="en-us")
    ap.add_argument("--sample-rate", type=int, default=16000)
    ap.add_argument("--hop", type=int, default=160)
    args = ap.parse_args()
    item = speak(Espeak(), args.text, args.voice, args.sample_rate, args.hop)
    if item is None:
        raise SystemExit("not one sentence, or the timing could not be reconciled")
    print(json.dumps({k: item[k] for k in ("text", "phonemes", "ids", "durations")},
                     ensure_ascii=False))
    print(f"{len(item['ids'])} ids, {sum(item['durations'])} frames, "
          f"{len(item['audio'])} samples = {len(item['audio']) // args.hop} frames")


if __name__ == "__main__":
    main()
