#!/usr/bin/env python3
"""Reference outputs of HF `tokenizers` for trimvl's tokenizer (tests/language/tokenizer_golden_test.cpp).

Builds a deterministic corpus of more than 1 MB without network access: prose (docstrings) and code
from Python standard-library sources, constructed multilingual text (CJK, Korean, Arabic, Hebrew,
Cyrillic, Greek, Devanagari, Thai, Vietnamese), emoji and ZWJ sequences, whitespace runs, numbers,
CRLF line ends, special-token strings inside text, decomposed characters that NFC composes, letters
and digits of Unicode 15/16, and invalid UTF-8. Then records, for the real Qwen3 and Llama-2
tokenizer.json files and for variants of them that exercise the components the real files do not
use (11 of them, two trained here with BPE options the real files lack):

  <name>.json   ids for every sample (add_special_tokens false; true for every 7th sample),
                decode() of those ids with and without skip_special_tokens, decode() of random id
                sequences, id_to_token() of sampled ids, get_vocab_size(with_added_tokens=True).
  corpus.json   the samples: {"text": str} or, where the bytes are not UTF-8, {"hex": str,
                "text": the bytes decoded with errors="replace"}.
  variants/<name>.tokenizer.json   the variant tokenizer files; variants/<name>.json their
                outputs on variants/corpus.json (every 10th sample and targeted cases).
  classes.json  the code points HF's regex engine matches for 61 single-character patterns.

Standard-library sources come from the venv's interpreter, which requirements.txt pins with the
rest; the corpus is written out, so the C++ test never depends on them directly.
"""
import argparse
import ast
import contextlib
import copy
import importlib.util
import json
import os
import random
import unicodedata
from pathlib import Path

from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

INPUTS = [
    "$TRIMVL_SHARED_DIR/assets/qwen3-tokenizer/tokenizer.json",
    "$TRIMVL_SHARED_DIR/assets/llama2-tokenizer/tokenizer.json",
]

SEED = 20261123
MIN_CORPUS_BYTES = 1_100_000

STDLIB_MODULES = [
    "argparse", "textwrap", "difflib", "json.decoder", "json.encoder", "email.message", "collections",
    "functools", "pathlib", "http.client", "unittest.case", "logging", "typing", "inspect", "tarfile",
    "calendar", "decimal", "fractions", "statistics", "string", "shlex", "csv", "configparser", "heapq",
    "bisect", "dataclasses", "enum", "contextlib", "pprint", "locale", "gettext", "zipfile", "tempfile",
]

# Short real sentences per script; the generator recombines their words.
SENTENCES = {
    "zh": ["我们今天去公园散步，天气非常好。", "机器学习模型需要大量的数据进行训练。", "这个城市的历史可以追溯到两千年前。",
           "请把窗户关上，外面风很大。", "他在图书馆里读了一整天的书。"],
    "ja": ["今日はとても良い天気ですね。", "東京駅から新幹線に乗って大阪へ行きました。", "このプログラムはカタカナとひらがなを処理します。",
           "猫が窓のそばで昼寝をしている。"],
    "ko": ["안녕하세요, 만나서 반갑습니다.", "서울은 대한민국의 수도입니다.", "오늘 저녁에 무엇을 먹을까요?", "한국어 문장을 토큰화합니다."],
    "ar": ["مرحبا بكم في هذا البرنامج.", "اللغة العربية تكتب من اليمين إلى اليسار.", "ذهبتُ إلى المكتبةِ صباحًا.", "الذكاء الاصطناعي يغير العالم."],
    "he": ["שלום עולם, מה שלומך היום?", "העברית נכתבת מימין לשמאל."],
    "ru": ["Съешь же ещё этих мягких французских булок, да выпей чаю.", "Москва — столица России.", "Программа обрабатывает текст на русском языке."],
    "el": ["Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.", "Καλημέρα σας, τι κάνετε;"],
    "hi": ["नमस्ते, आप कैसे हैं?", "भारत एक विशाल देश है जिसमें अनेक भाषाएँ बोली जाती हैं।"],
    "th": ["สวัสดีครับ วันนี้อากาศดีมาก", "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ"],
    "vi": ["Tiếng Việt có rất nhiều dấu thanh điệu.", "Hôm nay trời đẹp quá, chúng ta đi dạo nhé."],
    "tr": ["İstanbul'da ılık bir akşam; IŞIK ve ışık farklıdır.", "Türkçe büyük İ ve küçük ı harflerine sahiptir."],
    "de": ["Größenordnung, Straße und Übermaß – äußerst schön.", "Fünf Flöße fuhren über den Fluss."],
    "fr": ["L'élève a reçu un prix à l'école d'été.", "Où est la bibliothèque ? À côté du café."],
}

EMOJI = ["😀", "😂", "🥲", "👍🏽", "👩🏾‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🏴‍☠️", "❤️", "🇺🇸", "🇯🇵🇰🇷", "1️⃣", "#️⃣", "🧑‍🤝‍🧑",
         "🐈‍⬛", "🫠", "✨", "🚀", "👁️‍🗨️", "🤷‍♀️", "☕", "⚡", "🎉🎊"]

SPECIAL_STRINGS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<unk>", "<think>", "</think>",
                   "<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>", "<tool_call>",
                   "<|im_start", "im_end|>", "<s", "</s", "<<s>>", "<|fim_prefix|>", "<|box_start|>"]

# Characters whose decomposed spelling NFC composes, and compatibility characters NFKC folds.
DECOMPOSED = ["e\u0301", "A\u030a", "o\u0308", "n\u0303", "c\u0327", "\u1100\u1161\u11a8", "\u1112\u1161\u11ab",
              "\u0391\u0301", "i\u0307", "u\u031b\u0301", "\u05e9\u05c1", "a\u0328\u0301", "\u0b47\u0b3e"]
COMPATIBILITY = ["ﬁ", "ﬀ", "Ａ", "ｂ", "１２３", "①", "㎞", "™", "½", "ℌ", "Ⅻ", "ｶﾀｶﾅ", "\u212a", "ſ", "ǅ", "ẞ", "µ"]
# Caseless letters and digits without decompositions from Unicode 15-16 (which Oniguruma in HF
# knows and Python 3.11 / PCRE2 10.42 do not): CJK extensions H and I, Kawi, Nag Mundari,
# Kaktovik numerals, Myanmar Extended-C digits. And U+180E, which only PCRE2 calls a space.
RECENT_LETTERS = [(0x31350, 0x323AF), (0x2EBF0, 0x2EE5D), (0x11F04, 0x11F10), (0x11F12, 0x11F33), (0x1E4D0, 0x1E4EB)]
RECENT_DIGITS = [(0x11F50, 0x11F59), (0x1E4F0, 0x1E4F9), (0x1D2C0, 0x1D2D3), (0x116D0, 0x116E3)]
MONGOLIAN = "\u182e\u1823\u1829\u182d\u1823\u182f"
WHITESPACE = [" ", "  ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n", "\n ", "\u00a0", "\u3000", "\u2003", "\u2028",
              "\u0085", "\u000b", "\u000c", " \t \n\t ", "\r"]


def stdlib_texts() -> tuple[list[str], list[str]]:
    prose, code = [], []
    for name in STDLIB_MODULES:
        path = Path(importlib.util.find_spec(name).origin)
        source = path.read_text(encoding="utf-8")
        code.append(source)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node, clean=True)
                if doc and len(doc) > 40:
                    prose.append(doc)
    return prose, code


def assigned_chars(lo: int, hi: int) -> list[str]:
    return [chr(c) for c in range(lo, hi) if unicodedata.category(chr(c)) not in ("Cn", "Co", "Cs")]


class Corpus:
    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.prose, self.code = stdlib_texts()
        self.words = {lang: " ".join(s).split() for lang, s in SENTENCES.items()}
        self.pools = {
            "cjk": assigned_chars(0x4E00, 0x9FA5), "kana": assigned_chars(0x3041, 0x30FF),
            "hangul": assigned_chars(0xAC00, 0xD7A4), "arabic": assigned_chars(0x0620, 0x064B),
            "cyrillic": assigned_chars(0x0410, 0x0450), "devanagari": assigned_chars(0x0905, 0x0940),
            "latin_ext": assigned_chars(0x00C0, 0x0250), "symbols": assigned_chars(0x2190, 0x2400),
            "math": assigned_chars(0x1D400, 0x1D4FF),
        }

    def chunk(self, texts: list[str], n: int) -> str:
        text = self.rng.choice(texts)
        start = self.rng.randrange(max(1, len(text) - n))
        return text[start:start + n]

    def multilingual(self) -> str:
        lang = self.rng.choice(sorted(SENTENCES))
        if self.rng.random() < 0.5:
            return self.rng.choice(SENTENCES[lang])
        words = self.rng.sample(self.words[lang], k=min(len(self.words[lang]), self.rng.randint(2, 12)))
        sep = "" if lang in ("zh", "ja", "th") and self.rng.random() < 0.7 else " "
        return sep.join(words)

    def random_script(self) -> str:
        pool = self.pools[self.rng.choice(sorted(self.pools))]
        return "".join(self.rng.choice(pool) for _ in range(self.rng.randint(1, 30)))

    def recent_unicode(self) -> str:
        def pick(ranges):
            lo, hi = self.rng.choice(ranges)
            return chr(self.rng.randint(lo, hi))
        parts = []
        for _ in range(self.rng.randint(1, 6)):
            kind = self.rng.randrange(4)
            if kind == 0:
                parts.append("".join(pick(RECENT_LETTERS) for _ in range(self.rng.randint(1, 5))))
            elif kind == 1:
                parts.append("".join(pick(RECENT_DIGITS) for _ in range(self.rng.randint(1, 5))))
            elif kind == 2:
                parts.append(MONGOLIAN + "\u180e" + self.rng.choice(["", "!", " ", "\n", "1", "a", "\u180e"]))
            else:
                parts.append(self.rng.choice([" ", "x", ".", "\t", " 7"]))
        return "".join(parts)

    def number(self) -> str:
        kind = self.rng.randrange(6)
        if kind == 0:
            return str(self.rng.randrange(10 ** self.rng.randint(1, 60)))
        if kind == 1:
            return f"{self.rng.uniform(-1e6, 1e6):.{self.rng.randint(0, 9)}f}"
        if kind == 2:
            return f"{self.rng.randrange(10**9):,}"
        if kind == 3:
            return f"+1 ({self.rng.randrange(1000):03d}) {self.rng.randrange(1000):03d}-{self.rng.randrange(10000):04d}"
        if kind == 4:
            return "".join(chr(0x0660 + int(d)) for d in str(self.rng.randrange(10**8)))
        return f"2026-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}T{self.rng.randint(0, 23):02d}:00Z"

    def whitespace(self) -> str:
        if self.rng.random() < 0.3:
            return self.rng.choice([" ", "\t", "\n"]) * self.rng.randint(2, 300)
        return "".join(self.rng.choice(WHITESPACE) for _ in range(self.rng.randint(1, 6)))

    def special(self) -> str:
        s = self.rng.choice(SPECIAL_STRINGS)
        glue = self.rng.choice(["", " ", "\n", "word", "x ", " y"])
        return glue + s + self.rng.choice(["", " ", "\n", "text", "<|im_end|>"])

    def fragment(self) -> str:
        kinds = [
            (30, lambda: self.chunk(self.prose, self.rng.randint(20, 1500))),
            (20, lambda: self.chunk(self.code, self.rng.randint(20, 1500))),
            (15, self.multilingual),
            (5, self.random_script),
            (5, lambda: "".join(self.rng.choice(EMOJI) for _ in range(self.rng.randint(1, 6)))),
            (6, self.number),
            (6, self.whitespace),
            (6, self.special),
            (4, lambda: "".join(self.rng.choice(DECOMPOSED) for _ in range(self.rng.randint(1, 5)))),
            (3, lambda: unicodedata.normalize("NFD", self.multilingual())),
            (3, lambda: "".join(self.rng.choice(COMPATIBILITY) for _ in range(self.rng.randint(1, 4)))),
            (2, lambda: self.chunk(self.code, self.rng.randint(50, 800)).replace("\n", "\r\n")),
            (2, lambda: self.rng.choice(["'s", "'T", "'RE", "'ſ", "'ll", "'D", "n't"]) + self.rng.choice(["", " ", "x"])),
            (2, self.recent_unicode),
        ]
        r = self.rng.uniform(0, sum(w for w, _ in kinds))
        for weight, make in kinds:
            r -= weight
            if r <= 0:
                return make()
        return kinds[0][1]()

    def invalid_utf8(self) -> bytes:
        pieces = [b"\xff", b"\xfe", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80",
                  b"\xf5", b"\x80", b"\xbf\xbf", b"\xe4\xb8", b"\xf0\x9f\x98", b"\xc3", b"\xe2\x82", b"\xf0\x9f",
                  bytes([self.rng.randrange(256) for _ in range(self.rng.randint(1, 12))])]
        out = b""
        for _ in range(self.rng.randint(1, 6)):
            out += self.fragment()[: self.rng.randint(0, 60)].encode() + self.rng.choice(pieces)
        return out

    def samples(self) -> list[bytes]:
        fixed = ["", " ", "a", "\n", "  ", "\t\t", "<s>", "<|im_start|>", "<|im_start|>user\nHi<|im_end|>\n",
                 "<s><s></s>", " <s> ", "Hello world", " Hello", "\r\n\r\n", "\u3000", "é", "e\u0301", "👨‍👩‍👧‍👦",
                 "a" * 5000, " " * 5000, "\n" * 777, "1" * 1000, "ab" * 2000, "€" * 300]
        out = [s.encode() for s in fixed]
        total = sum(len(s) for s in out)
        while total < MIN_CORPUS_BYTES:
            if self.rng.random() < 0.04:
                sample = self.invalid_utf8()
            else:
                parts = [self.fragment() for _ in range(self.rng.randint(1, 5))]
                sep = lambda: self.rng.choice(["", " ", "\n", "\n\n", self.whitespace()])
                sample = "".join(p + sep() for p in parts).encode()
            out.append(sample)
            total += len(sample)
        return out


# Character sets of HF's regex engine (Oniguruma): the code points each single-character pattern
# matches, as ranges. trimvl rewrites patterns for PCRE2 (language/tokenizer/onig_compat.h); these
# pin the result. The domain is every code point outside the surrogates, the unassigned planes
# 4-13 and the private-use planes 15-16.
CLASS_DOMAIN = [[0x1, 0xD7FF], [0xE000, 0x3FFFF], [0xE0000, 0xE0FFF]]
GENERAL_CATEGORIES = ["C", "Cc", "Cf", "Cn", "Co", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N",
                      "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So",
                      "Z", "Zl", "Zp", "Zs"]
CLASS_PATTERNS = (
    [r"\s", r"\S", r"[^\s\p{L}\p{N}]", r"[^\r\n\p{L}\p{N}]", r"[\s\p{N}]", r"\pL", r"\p{Letter}", r"\p{^N}",
     r"[\p{l}x]", r"\p{Uppercase_Letter}", r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", r"[^\r\n\p{L}\p{N}\p{M}]",
     r"[\p{P}\p{S}]", r"(?i:s)", r"(?i:k)", r"[^\p{L}]"]
    + [rf"\p{{{c}}}" for c in GENERAL_CATEGORIES]
    + [rf"\P{{{c}}}" for c in ["C", "Cn", "L", "M", "Mn", "N", "P", "S", "Z"]])


def class_sets() -> dict:
    code_points = [c for lo, hi in CLASS_DOMAIN for c in range(lo, hi + 1)]
    gaps = [k for k in range(len(code_points) - 1) if code_points[k + 1] != code_points[k] + 1]
    text = "".join(map(chr, code_points))
    sets = []
    for pattern in CLASS_PATTERNS:
        # A run of matching characters is one piece, which keeps the Python side fast; its offsets
        # index `code_points`, contiguous except across the domain's gaps.
        split = pre_tokenizers.Split(Regex(f"(?:{pattern})+"), "removed", invert=True)
        runs = []
        for _, (start, end) in split.pre_tokenize_str(text):
            first = start
            for gap in gaps:
                if start <= gap < end - 1:
                    runs.append([code_points[first], code_points[gap]])
                    first = gap + 1
            runs.append([code_points[first], code_points[end - 1]])
        sets.append({"pattern": pattern, "ranges": runs})
    return {"domain": CLASS_DOMAIN, "sets": sets}


def random_ids(rng: random.Random, vocab_size: int, specials: list[int], byte_ids: list[int]) -> list[list[int]]:
    """Id sequences that stress decoders: special tokens anywhere, byte tokens in runs, unknown ids."""
    seqs = []
    for _ in range(400):
        seq = []
        for _ in range(rng.randint(1, 48)):
            r = rng.random()
            if r < 0.15 and specials:
                seq.append(rng.choice(specials))
            elif r < 0.45 and byte_ids:
                seq.extend(rng.choice(byte_ids) for _ in range(rng.randint(1, 4)))
            elif r < 0.48:
                seq.append(vocab_size + rng.randrange(50))  # no token: skipped
            else:
                seq.append(rng.randrange(vocab_size))
        seqs.append(seq)
    return seqs


@contextlib.contextmanager
def quiet_stderr():
    """Keeps Rust's panic messages (printed straight to fd 2) out of the test log."""
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def decode(tok: Tokenizer, ids: list[int], skip: bool) -> str | None:
    """HF's decode, or None where it panics (a Strip decoder with stop > 0 on a token of only the
    stripped character): there is no reference answer to compare with."""
    try:
        with quiet_stderr():
            return tok.decode(ids, skip_special_tokens=skip)
    except BaseException as e:  # pyo3's PanicException derives from BaseException
        if type(e).__name__ != "PanicException":
            raise
        return None


def record(tok: Tokenizer, texts: list[str], seqs: list[list[int]], rng: random.Random) -> dict:
    samples = []
    for i, text in enumerate(texts):
        ids = tok.encode(text, add_special_tokens=False).ids
        entry = {"ids": ids, "decode": decode(tok, ids, False), "decode_skip": decode(tok, ids, True)}
        if i % 7 == 0:
            entry["ids_special"] = tok.encode(text, add_special_tokens=True).ids
        samples.append(entry)
    vocab_size = tok.get_vocab_size(with_added_tokens=True)
    piece_ids = sorted(rng.sample(range(vocab_size), k=min(vocab_size, 3000)))
    return {
        "vocab_size": vocab_size,
        "samples": samples,
        "random": [{"ids": s, "decode": decode(tok, s, False), "decode_skip": decode(tok, s, True)} for s in seqs],
        "pieces": [[i, tok.id_to_token(i)] for i in piece_ids if tok.id_to_token(i) is not None],
    }


def special_and_byte_ids(tok: Tokenizer) -> tuple[list[int], list[int]]:
    specials = sorted(tok.get_added_tokens_decoder())
    byte_ids = [tok.token_to_id(f"<0x{b:02X}>") for b in range(256)]
    if None in byte_ids:  # byte-level vocabularies: bytes are alphabet characters
        byte_ids = [i for i in (tok.token_to_id(t) for t in pre_tokenizers.ByteLevel.alphabet()) if i is not None]
        byte_ids.sort()
    return specials, byte_ids


# ---- variants: the real files with other components, for what the real files do not use ---------

def variant_configs(qwen: dict, llama: dict) -> dict[str, dict]:
    v = {}

    c = copy.deepcopy(qwen)
    c["normalizer"] = None
    c["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    v["qwen3_gpt2_bytelevel"] = c

    c = copy.deepcopy(qwen)
    c["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "NFKC"}, {"type": "Lowercase"}, {"type": "Strip", "strip_left": True, "strip_right": True}]}
    c["model"]["ignore_merges"] = True
    v["qwen3_nfkc_lower_strip_ignore_merges"] = c

    c = copy.deepcopy(qwen)
    c["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "NFD"}, {"type": "Replace", "pattern": {"Regex": "[0-9]{2,}"}, "content": "#"},
        {"type": "Strip", "strip_left": False, "strip_right": True}, {"type": "NFKD"}]}
    c["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "MergedWithNext", "invert": False},
        {"type": "Split", "pattern": {"String": ","}, "behavior": "MergedWithPrevious", "invert": False},
        {"type": "Split", "pattern": {"Regex": "(?=[A-Z])"}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}
    v["qwen3_split_merged"] = c

    c = copy.deepcopy(qwen)
    c["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": "the"}, "behavior": "Removed", "invert": False},
        {"type": "Split", "pattern": {"Regex": "\\p{L}+"}, "behavior": "Contiguous", "invert": True},
        {"type": "Split", "pattern": {"Regex": "x*"}, "behavior": "Removed", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": False}]}
    v["qwen3_split_contiguous_removed"] = c

    c = copy.deepcopy(qwen)
    c["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]}
    flags = {"<|im_start|>": {"lstrip": True}, "<|im_end|>": {"rstrip": True},
             "<think>": {"single_word": True}, "</think>": {"lstrip": True, "rstrip": True}}
    for t in c["added_tokens"]:
        t.update(flags.get(t["content"], {}))
    next_id = max(t["id"] for t in c["added_tokens"]) + 1
    for content, extra in [("hello world", {"normalized": True}), (" foo", {"normalized": False}),
                           ("ÜNÏCODE", {"normalized": True, "special": True}), ("cat", {"single_word": True}),
                           ("dog", {"normalized": False}),  # in the model vocabulary: keeps its id
                           ("<mask>", {"lstrip": True, "rstrip": True, "special": True, "normalized": False}),
                           ("ＦＵＬＬ", {"normalized": True})]:
        t = {"id": next_id, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": False}
        t.update(extra)
        c["added_tokens"].append(t)
        next_id += 1
    v["qwen3_added_flags"] = c

    c = copy.deepcopy(llama)
    c["normalizer"] = None
    c["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True}
    c["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "ByteFallback"}, {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True},
        {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 1}]}
    c["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        {"type": "TemplateProcessing",
         "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                    {"SpecialToken": {"id": "</s>", "type_id": 0}}],
         "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
         "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]},
                            "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}}]}
    v["llama2_metaspace_first"] = c

    c = copy.deepcopy(llama)
    c["normalizer"] = None
    c["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": False}
    c["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Replace", "pattern": {"String": "▁▁"}, "content": "<2>"},
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
        {"type": "Strip", "content": " ", "start": 2, "stop": 2}]}
    v["llama2_metaspace_always_replace_joined"] = c

    c = copy.deepcopy(llama)
    c["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"Regex": "▁+"}, "content": " "}, {"type": "ByteFallback"},
        {"type": "Strip", "content": "a", "start": 1, "stop": 1}, {"type": "Fuse"},
        {"type": "Replace", "pattern": {"Regex": "e(?= )"}, "content": "E"}]}
    v["llama2_decoder_regex_strip_tokens"] = c

    c = copy.deepcopy(llama)
    c["pre_tokenizer"] = None
    c["decoder"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": True}
    v["llama2_metaspace_never_decoder"] = c
    return v


def trained_configs(english: list[str]) -> dict[str, dict]:
    """Small BPE models trained on ASCII prose, for the BPE options the real files do not use."""
    v = {}
    for name, prefix, suffix, fuse in [("trained_affixes", "##", "</w>", False), ("trained_fuse_unk", None, None, True)]:
        affixes = {k: v for k, v in [("continuing_subword_prefix", prefix), ("end_of_word_suffix", suffix)] if v}
        tok = Tokenizer(models.BPE(unk_token="[UNK]", fuse_unk=fuse, **affixes))
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(r"\s+"), "removed"), pre_tokenizers.Split(Regex(r"[^\p{L}\p{N}]"), "isolated")])
        trainer = trainers.BpeTrainer(vocab_size=900, special_tokens=["[UNK]", "[CLS]", "[SEP]"], show_progress=False,
                                      limit_alphabet=70, **affixes)
        tok.train_from_iterator(english, trainer=trainer)
        config = json.loads(tok.to_str())
        config["post_processor"] = {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [1], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [2], "tokens": ["[SEP]"]}}}
        config["decoder"] = None  # decode joins tokens with spaces
        v[name] = config
    return v


VARIANT_EXTRA = [
    "<|im_start|>user\nhello world<|im_end|>\n", "  <|im_start|>  x  <|im_end|>  y", "a<think>b <think> c</think>d",
    "concatenate cat catalog a cat. CAT cat_ 3cat", "HELLO WORLD and Hello World", "foo foo bar foo", "hot dog dogma",
    "x <mask> y<mask>z", "ÜNÏCODE ünïcode ＦＵＬＬ full", "The Quick, Brown FOX, 1234 and 56.", "thethe other the",
    "xxx axxb x", "▁already▁metaspace", " leading", "trailing  ", "a   b", "  ", "ab, cd,, ef", "İstanbul ǅ ẞ",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    out: Path = args.out
    (out / "variants").mkdir(parents=True, exist_ok=True)

    corpus = Corpus()
    raw = corpus.samples()
    texts = [b.decode("utf-8", errors="replace") for b in raw]
    entries = []
    for b, t in zip(raw, texts):
        try:
            entries.append({"text": b.decode("utf-8")})
        except UnicodeDecodeError:
            entries.append({"hex": b.hex(), "text": t})
    (out / "corpus.json").write_text(json.dumps({"samples": entries}, ensure_ascii=False), encoding="utf-8")
    (out / "classes.json").write_text(json.dumps(class_sets()), encoding="utf-8")
    print(f"gen_tokenizer: {len(raw)} samples, {sum(map(len, raw))} bytes, "
          f"{sum('hex' in e for e in entries)} with invalid UTF-8")

    assets = Path(os.environ["TRIMVL_SHARED_DIR"]) / "assets"
    rng = random.Random(SEED + 1)
    configs = {}
    for name, folder in [("qwen3", "qwen3-tokenizer"), ("llama2", "llama2-tokenizer")]:
        path = assets / folder / "tokenizer.json"
        configs[name] = json.loads(path.read_text(encoding="utf-8"))
        tok = Tokenizer.from_file(str(path))
        specials, byte_ids = special_and_byte_ids(tok)
        seqs = random_ids(rng, tok.get_vocab_size(with_added_tokens=True), specials, byte_ids)
        (out / f"{name}.json").write_text(json.dumps(record(tok, texts, seqs, rng), ensure_ascii=False),
                                          encoding="utf-8")

    # Variants run on every 10th sample plus targeted cases; their ids follow the corpus order.
    subset = texts[::10] + VARIANT_EXTRA
    (out / "variants" / "corpus.json").write_text(json.dumps({"samples": [{"text": t} for t in subset]},
                                                             ensure_ascii=False), encoding="utf-8")
    english = [t for t in corpus.prose if t.isascii()]
    variants = variant_configs(configs["qwen3"], configs["llama2"]) | trained_configs(english)
    for name, config in variants.items():
        path = out / "variants" / f"{name}.tokenizer.json"
        path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
        tok = Tokenizer.from_file(str(path))
        specials, byte_ids = special_and_byte_ids(tok)
        seqs = random_ids(rng, tok.get_vocab_size(with_added_tokens=True), specials, byte_ids)[:100]
        (out / "variants" / f"{name}.json").write_text(json.dumps(record(tok, subset, seqs, rng), ensure_ascii=False),
                                                       encoding="utf-8")
    print(f"gen_tokenizer: {len(variants)} variants on {len(subset)} samples")


if __name__ == "__main__":
    main()
