#!/usr/bin/env python3
"""Trains the default model shipped in models/: a small Gemma 4 architecture
model (Per-Layer Embeddings, KV sharing, double-wide MLP on the shared layers,
sliding and full attention) with its own small tokenizer, on the King James
Bible (public domain) as Debian's bible-kjv-text package carries it.

It is small enough to commit (bf16, well under 20 MB) and good enough to
continue an English sentence recognisably in the style of its corpus. It also
learns the Gemma 4 chat format (turns made of consecutive verses), so
`gemma4 chat` answers in kind.

Steps (each can be rerun; everything goes to --work, the result to --out):
  1. corpus: `bible -l10000 Gen1:1-Rev22:21` (apt-get install bible-kjv)
  2. tokenizer: BPE with byte fallback like Gemma 4's (spaces as "▁", no
     prefix space, the Gemma 4 special tokens), vocabulary --vocab
  3. training with transformers' Gemma4ForCausalLM, AdamW, cosine schedule
  4. export: config.json, model.safetensors (bf16), tokenizer.json,
     tokenizer_config.json, generation_config.json, and reference.json with
     greedy continuations computed by transformers (the C++ tests compare)

Usage:
  python3 tools/train_default_model.py --steps 1500 --out models/gemma4-kjv-tiny
  (checkpoints every 25 steps in --work: a stopped run resumes; --export-only
  exports the last checkpoint)
(pins in tools/fixtures/requirements-torch.txt, plus tokenizers).
"""

import argparse
import json
import math
import os
import random
import re
import subprocess
import time

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import BPE
from tokenizers.trainers import BpeTrainer
from transformers import Gemma4ForCausalLM, Gemma4TextConfig

# Special tokens in Gemma 4's roles, at the start of our vocabulary (Gemma 4's
# own ids do not fit a 4096-token vocabulary; the engine looks them up by text).
SPECIALS = [
    "<pad>", "<eos>", "<bos>", "<unk>", "<mask>",
    "<|turn>", "<turn|>", "<|think|>", "<|channel>", "<channel|>",
    "<|tool>", "<tool|>", "<|tool_call>", "<tool_call|>", "<|tool_response>", "<tool_response|>", '<|"|>',
    "<|image>", "<image|>", "<|image|>", "<|audio>", "<audio|>", "<|audio|>", "<|video|>",
]
BYTES = [f"<0x{b:02X}>" for b in range(256)]

S, F = "sliding_attention", "full_attention"
MODEL = dict(
    vocab_size=4096,
    hidden_size=256,
    num_hidden_layers=8,
    layer_types=[S, S, S, F, S, S, S, F],
    num_attention_heads=4,
    num_key_value_heads=1,
    head_dim=64,
    global_head_dim=128,
    intermediate_size=512,
    use_double_wide_mlp=True,
    hidden_size_per_layer_input=32,
    vocab_size_per_layer_input=4096,
    num_kv_shared_layers=2,
    sliding_window=64,
    attention_k_eq_v=False,
    rms_norm_eps=1e-6,
    final_logit_softcapping=30.0,
    max_position_embeddings=2048,
    pad_token_id=0,
    eos_token_id=1,
    bos_token_id=2,
    tie_word_embeddings=True,
    hidden_activation="gelu_pytorch_tanh",
    rope_parameters={
        "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
        "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1000000.0},
    },
)

PROMPTS = [
    "In the beginning God created",
    "And the LORD said unto Moses,",
    "Blessed are the meek: for they",
    "The LORD is my shepherd;",
]


def read_corpus(work):
    path = os.path.join(work, "kjv.txt")
    if not os.path.exists(path):
        text = subprocess.run(["bible", "-l10000", "Gen1:1-Rev22:21"], check=True, capture_output=True, text=True).stdout
        with open(path, "w") as f:
            f.write(text)
    chapters, verses = [], []
    for line in open(path):
        line = line.rstrip("\n")
        m = re.match(r"^\s*(\d+) (.*)$", line)
        if m:
            verses.append(m.group(2).strip())
        elif line.strip() and verses:
            chapters.append(verses)
            verses = []
    if verses:
        chapters.append(verses)
    return chapters


def chat_sample(a, b):
    return f"<|turn>user\n{a}<turn|>\n<|turn>model\n{b}<turn|>\n"


def train_tokenizer(chapters, vocab_size):
    lines = [v for ch in chapters for v in ch]
    base = Tokenizer(BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    base.normalizer = normalizers.Replace(" ", "▁")
    # Training only: words start with "▁", so no merge spans two words and the
    # result is the same whether a string is encoded whole (as Gemma's
    # pipeline does) or word by word.
    base.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")
    n_fixed = len(SPECIALS) + len(BYTES)
    trainer = BpeTrainer(vocab_size=vocab_size - n_fixed, special_tokens=[], show_progress=False,
                         limit_alphabet=200, min_frequency=2)
    base.train_from_iterator(lines + ["\n", "\n\n"], trainer=trainer)
    trained = json.loads(base.to_str())["model"]
    # Final vocabulary: specials, the 256 byte-fallback pieces, then the learned pieces.
    vocab = {t: i for i, t in enumerate(SPECIALS + BYTES)}
    for piece, _ in sorted(trained["vocab"].items(), key=lambda kv: kv[1]):
        if piece not in vocab and len(vocab) < vocab_size:
            vocab[piece] = len(vocab)
    merges = [m if isinstance(m, str) else " ".join(m) for m in trained["merges"]]
    merges = [m for m in merges if all(p in vocab for p in m.split(" ")) and m.replace(" ", "") in vocab]
    tok = Tokenizer(BPE(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges], unk_token="<unk>",
                        byte_fallback=True, fuse_unk=True, dropout=None))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(" ", behavior="merged_with_previous", invert=False)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens(SPECIALS)
    assert len(tok.get_vocab()) == vocab_size, len(tok.get_vocab())
    return tok


def make_stream(chapters, tok, rng):
    """Token ids of the whole training text: chapters as paragraphs, and one
    chat-formatted pair of consecutive verses for every few verses."""
    bos, eos = tok.token_to_id("<bos>"), tok.token_to_id("<eos>")
    ids = []
    for ch in chapters:
        ids += [bos] + tok.encode(" ".join(ch)).ids + [eos]
        for i in range(0, len(ch) - 1, 4):
            ids += [bos] + tok.encode(chat_sample(ch[i], ch[i + 1])).ids
    return ids


def round_to_bf16_(model):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).to(torch.float32))
        for layer in model.model.layers:
            layer.layer_scalar.copy_(layer.layer_scalar.to(torch.bfloat16).to(torch.float32))
        emb = model.model.embed_tokens
        emb.embed_scale.copy_(torch.tensor(emb.scalar_embed_scale).to(torch.bfloat16).to(torch.float32))


def export(model, tok, out, args, stats):
    os.makedirs(out, exist_ok=True)
    model = model.eval()
    round_to_bf16_(model)
    sd = {k: v.detach().to(torch.bfloat16).contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    save_file(sd, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    cfg = {k: v for k, v in MODEL.items()}
    cfg.update({"architectures": ["Gemma4ForCausalLM"], "model_type": "gemma4_text", "num_global_key_value_heads": None,
                "enable_moe_block": False, "use_bidirectional_attention": None, "attention_bias": False})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    tok.save(os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "GemmaTokenizer", "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>",
                   "unk_token": "<unk>", "mask_token": "<mask>", "add_bos_token": True, "padding_side": "left"}, f, indent=2)
        f.write("\n")
    gen = {"bos_token_id": 2, "pad_token_id": 0, "eos_token_id": [1, tok.token_to_id("<turn|>")],
           "do_sample": True, "temperature": 1.0, "top_k": 64, "top_p": 0.95}
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)
        f.write("\n")
    # Reference greedy continuations (no stop token, 32 tokens) for the parity test.
    refs = []
    model.generation_config.eos_token_id = None
    with torch.no_grad():
        for p in PROMPTS:
            ids = [2] + tok.encode(p).ids
            out_ids = model.generate(torch.tensor([ids]), max_new_tokens=32, do_sample=False)[0].tolist()
            full = model(torch.tensor([out_ids])).logits[0]
            margins = [float(torch.topk(full[t], 2).values.diff().abs()) for t in range(len(ids) - 1, len(out_ids) - 1)]
            refs.append({"prompt": p, "prompt_ids": ids, "greedy": out_ids[len(ids):], "text": tok.decode(out_ids[len(ids):]),
                         "greedy_margins": margins})
            print(f"  {p!r} -> {tok.decode(out_ids[len(ids):])!r}")
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump({"reference": {"transformers": __import__("transformers").__version__, "torch": torch.__version__,
                                 "dtype": "float32 compute on bf16 weights"},
                   "training": stats, "continuations": refs}, f, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/gemma4-train")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "models", "gemma4-kjv-tiny"))
    ap.add_argument("--steps", type=int, default=1500, help="optimizer steps (the learning-rate schedule spans them)")
    ap.add_argument("--minutes", type=float, default=0.0, help="stop early after this many minutes (0: no limit)")
    ap.add_argument("--export-only", action="store_true", help="export the last checkpoint in --work and stop")
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1611)
    ap.add_argument("--tokenizer-only", type=int, metavar="VOCAB", default=0,
                    help="only train a tokenizer of this many tokens into --out (test fixtures)")
    args = ap.parse_args()
    if args.tokenizer_only:
        os.makedirs(args.out, exist_ok=True)
        os.makedirs(args.work, exist_ok=True)
        train_tokenizer(read_corpus(args.work), args.tokenizer_only).save(os.path.join(args.out, "tokenizer.json"))
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    os.makedirs(args.work, exist_ok=True)

    chapters = read_corpus(args.work)
    tok = train_tokenizer(chapters, MODEL["vocab_size"])
    stream = torch.tensor(make_stream(chapters, tok, rng), dtype=torch.long)
    print(f"corpus: {len(chapters)} chapters, {len(stream)} tokens")

    model = Gemma4ForCausalLM(Gemma4TextConfig(**MODEL))
    print(f"model: {sum(p.numel() for p in model.parameters())} parameters")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.05)
    ckpt = os.path.join(args.work, "checkpoint.pt")
    step, ema, spent = 0, None, 0.0
    if os.path.exists(ckpt):  # resume (or export) where the last run stopped
        state = torch.load(ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, ema, spent = state["step"], state["ema"], state["minutes"] * 60
        print(f"resumed at step {step}")
    if args.export_only:
        export(model, tok, args.out, args, {"steps": step, "tokens_seen": step * args.batch * args.seq,
                                            "final_loss_ema": round(ema or 0.0, 4), "minutes": round(spent / 60, 1),
                                            "corpus_tokens": len(stream)})
        return
    start = time.time() - spent
    model.train()
    while step < args.steps:
        elapsed = time.time() - start
        if args.minutes and elapsed > args.minutes * 60:
            break
        frac = step / args.steps
        lr = args.lr * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, len(stream) - args.seq - 1, (args.batch,))
        x = torch.stack([stream[s:s + args.seq] for s in starts])
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        step += 1
        if step % 25 == 0:
            print(f"step {step} loss {ema:.3f} lr {lr:.2e} {elapsed / 60:.1f} min", flush=True)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "ema": ema,
                        "minutes": (time.time() - start) / 60}, ckpt)
    stats = {"steps": step, "tokens_seen": step * args.batch * args.seq, "final_loss_ema": round(ema, 4),
             "minutes": round((time.time() - start) / 60, 1), "corpus_tokens": len(stream)}
    print(stats)
    export(model, tok, args.out, args, stats)


if __name__ == "__main__":
    main()
