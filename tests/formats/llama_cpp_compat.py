#!/usr/bin/env python3
"""Does a GGUF that `gemma4 convert` writes load and run in llama.cpp?

Converts fixture checkpoints (tests/data/models/*) to GGUF of several types,
loads each with llama.cpp through llama-cpp-python, and compares with our
engine on the same file: the tokenizer's ids for a few strings, and the
log-probabilities after the last prompt token.

F32 files must agree closely (same argmax, log-probs within 0.5: llama.cpp
keeps an F16 KV cache and rounds differently). For bf16 and q8_0 only loading,
running and the tokenizer are checked, and the difference is printed: these
tiny random networks are chaotic, so llama.cpp's lower-precision activations
(bf16 or 8-bit) move their logits by whole units, as they do in transformers.

Usage: llama_cpp_compat.py GEMMA4_BINARY FIXTURE_FOLDER...
Exit 77 (skipped) when llama_cpp is not installed (pip install llama-cpp-python).
"""

import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import llama_cpp
except ImportError as e:
    print(f"skipped: {e} (pip install llama-cpp-python numpy)")
    sys.exit(77)

gemma4, fixtures = sys.argv[1], sys.argv[2:]
TEXTS = ["In the beginning God created the heaven and the earth.", "héllo wörld 🙂", "a  b\n\nc"]
TYPES = ["f32", "bf16", "q8_0"]


def ours_ids(model, text):
    out = subprocess.run([gemma4, "tokenize", "-m", model, "--ids", "-p", text], check=True, capture_output=True,
                         text=True).stdout
    return [int(x) for x in out.split()]


def ours_last_logits(model, ids, tmp):
    """Our engine's logits after the last prompt token, via perplexity --save-logits:
    score position n-2 -> the file holds log-probabilities of the last token."""
    path = os.path.join(tmp, "ids.txt")
    with open(path, "w") as f:
        f.write(" ".join(map(str, ids + [0])))
    saved = os.path.join(tmp, "logp.bin")
    subprocess.run([gemma4, "perplexity", "-m", model, "--tokens", path, "-c", str(len(ids) + 1), "--score-from",
                    str(len(ids) - 1), "--save-logits", saved], check=True, capture_output=True)
    raw = open(saved, "rb").read()
    vocab = int.from_bytes(raw[8:16], "little")
    return np.frombuffer(raw[24:24 + 2 * vocab], dtype="<f2").astype(np.float64)


failures = 0
with tempfile.TemporaryDirectory() as tmp:
    for fixture in fixtures:
        name = os.path.basename(fixture.rstrip("/"))
        for t in TYPES:
            gguf = os.path.join(tmp, f"{name}-{t}.gguf")
            subprocess.run([gemma4, "convert", fixture, "-o", gguf, "--type", t], check=True, capture_output=True)
            llm = llama_cpp.Llama(model_path=gguf, n_ctx=64, n_threads=1, logits_all=True, verbose=False)
            for text in TEXTS:
                theirs = llm.tokenize(text.encode(), add_bos=False, special=False)
                mine = ours_ids(gguf, text)
                if theirs != mine:
                    print(f"{name} {t}: tokenizer differs on {text!r}: llama.cpp {theirs} ours {mine}")
                    failures += 1
            ids = [2] + ours_ids(gguf, TEXTS[0])
            llm.reset()
            llm.eval(ids)
            theirs = np.array(llm.scores[len(ids) - 1], dtype=np.float64)
            theirs_lp = theirs - np.log(np.exp(theirs - theirs.max()).sum()) - theirs.max()
            mine_lp = ours_last_logits(gguf, ids, tmp)
            diff = np.abs(theirs_lp - mine_lp).max()
            same = int(theirs_lp.argmax()) == int(mine_lp.argmax())
            print(f"{name} {t}: llama.cpp loads and runs it; last-token log-probs max diff {diff:.4f}, same argmax {same}")
            if not np.all(np.isfinite(theirs_lp)):
                failures += 1
            if t == "f32" and (not same or diff > 0.5):
                failures += 1
print(json.dumps({"failures": failures}))
sys.exit(1 if failures else 0)
