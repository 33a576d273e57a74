#!/usr/bin/env python3
"""Makes random-weight Gemma 4 checkpoints with the real dimensions of a
released model, for benchmarks: random weights cost the same compute and
memory traffic as trained ones.

For each variant it writes a Hugging Face checkpoint folder the way Google
ships one (config.json from tests/data/formats/configs, bf16 safetensors in
shards of at most 2 GiB with model.safetensors.index.json, and a
262144-token tokenizer.json with Gemma 4's special tokens at their real ids),
then `gemma4 convert` turns it into GGUF files of the requested types. The
folder is deleted afterwards unless --keep-hf is given (it is as big as the
bf16 GGUF).

Tensor names and shapes come from transformers' own Gemma4ForCausalLM built on
the "meta" device (no memory), so they are exactly what the reference expects.

  python3 tools/bench/make_bench_models.py --variant e2b --types bf16 q4_0 q8_0 q4_k_m \\
      --gemma4 build/release/bin/gemma4 --out ~/gemma4-bench

--layers N keeps only the first N layers (31B: 60 layers are 58 GB in bf16);
the name then says so (31b-12L).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import Gemma4ForCausalLM, Gemma4TextConfig

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
CONFIGS = {
    "e2b": "gemma-4-E2B.json",
    "e4b": "gemma-4-E4B.json",
    "26b": "gemma-4-26B-A4B.json",
    "31b": "gemma-4-31B.json",
}
SHARD_BYTES = 2 << 30


def text_config(variant, layers):
    with open(os.path.join(ROOT, "tests", "data", "formats", "configs", CONFIGS[variant])) as f:
        full = json.load(f)
    text = dict(full["text_config"])
    if layers:
        text["num_hidden_layers"] = layers
        text["layer_types"] = text["layer_types"][:layers]
        if text["layer_types"][-1] != "full_attention":
            raise SystemExit(f"--layers {layers}: the last kept layer must be a full-attention layer")
        shared = text.get("num_kv_shared_layers", 0)
        if shared:
            text["num_kv_shared_layers"] = min(shared, max(0, layers - 4))
    return full, text


def tensor_shapes(text):
    kwargs = {k: v for k, v in text.items() if k not in ("model_type", "architectures", "dtype")}
    with torch.device("meta"):
        model = Gemma4ForCausalLM(Gemma4TextConfig(**kwargs))
    shapes = {}
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if name == "lm_head.weight" or not name.startswith("model."):
            continue
        if name.endswith("embed_scale") or "rotary_emb" in name:  # computed, not stored
            continue
        shapes["model.language_model." + name[len("model."):]] = tuple(t.shape)
    return shapes


def random_bf16(shape, rng, kind):
    """bf16 bits (uint16) of values shaped like a trained model's, drawn in
    chunks so that a 4.7 GB table needs little more memory than itself."""
    n = int(np.prod(shape))
    out = np.empty(n, dtype=np.uint16)
    chunk = 1 << 24
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        if kind == "norm":
            x = rng.uniform(0.5, 1.5, m).astype(np.float32)
        else:
            x = rng.standard_normal(m, dtype=np.float32) * np.float32(1.0 / np.sqrt(shape[-1]))
        bits = x.view(np.uint32)
        out[start:start + m] = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # round to nearest even
    return out.reshape(shape)


def write_checkpoint(variant, layers, folder, seed):
    full, text = text_config(variant, layers)
    os.makedirs(folder, exist_ok=True)
    config = dict(full)
    config["text_config"] = text
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    shutil.copy(os.path.join(ROOT, "tests", "data", "text", "tokenizer", "tokenizer.json"), folder)
    rng = np.random.default_rng(seed)
    shapes = tensor_shapes(text)
    weight_map, shard, shard_bytes, index = {}, {}, 0, 0

    def flush():
        nonlocal shard, shard_bytes, index
        if not shard:
            return
        index += 1
        name = f"model-{index:05d}.safetensors"
        path = os.path.join(folder, name)
        # numpy has no bf16: the bits travel as int16 and are viewed as bf16.
        tensors = {k: torch.from_numpy(v.view(np.int16)).view(torch.bfloat16) for k, v in shard.items()}
        save_file(tensors, path, metadata={"format": "pt"})
        for k in shard:
            weight_map[k] = name
        shard, shard_bytes = {}, 0

    for name, shape in shapes.items():
        kind = "norm" if (len(shape) == 1 or name.endswith("layer_scalar")) else "matrix"
        arr = random_bf16(shape if shape else (1,), rng, kind)
        if shard_bytes + arr.nbytes > SHARD_BYTES:
            flush()
        shard[name] = arr
        shard_bytes += arr.nbytes
        print(f"  {name} {list(shape)}", file=sys.stderr)
    flush()
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", choices=sorted(CONFIGS), required=True)
    ap.add_argument("--layers", type=int, default=0, help="keep only the first N layers")
    ap.add_argument("--types", nargs="+", default=["bf16", "q4_0", "q8_0", "q4_k_m"])
    ap.add_argument("--gemma4", default=os.path.join(ROOT, "build", "release", "bin", "gemma4"))
    ap.add_argument("--out", default=os.path.expanduser("~/gemma4-bench"))
    ap.add_argument("--keep-hf", action="store_true")
    ap.add_argument("--seed", type=int, default=4)
    args = ap.parse_args()
    name = args.variant + (f"-{args.layers}L" if args.layers else "")
    folder = os.path.join(args.out, f"{name}-hf")
    if not os.path.exists(os.path.join(folder, "model.safetensors.index.json")):
        print(f"writing {folder}")
        write_checkpoint(args.variant, args.layers, folder, args.seed)
    for t in args.types:
        out = os.path.join(args.out, f"{name}-{t}.gguf")
        if os.path.exists(out):
            continue
        print(f"converting to {out}")
        subprocess.run([args.gemma4, "convert", folder, "-o", out, "--type", t], check=True)
    if not args.keep_hf:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
