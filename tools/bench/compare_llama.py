#!/usr/bin/env python3
"""gemma4 against llama.cpp on the same GGUF file (issue 8's harness).

For each --model it runs, interleaved over --pairs A/B pairs (gemma4, then
llama.cpp, each measurement in a fresh process):

  ppP        prompt tokens/s: P random prompt tokens in batches of 512
  tgN        generated tokens/s: N tokens evaluated one at a time
  tgN@dD     the same after D tokens already in the context (untimed)
  ttftT      milliseconds from the start of evaluating a T-token prompt until
             its last token's logits exist: the first request after loading
  peak RSS   of the process that ran tgN@dD (context D+N+1 in both engines)

gemma4 is measured with `gemma4 bench --json -r 1` (pp, tg) and the timing
line of `gemma4 run` (TTFT); llama.cpp through llama-cpp-python's API in a
child process of this script (`--llama-worker`, not for direct use). Then it
prints a markdown table: medians, the median of the pairwise ratios
gemma4/llama.cpp, and for tg rows the fraction of the bandwidth roof
(measured read bandwidth / bytes of weights read per generated token,
computed from the GGUF tensor table). Each number comes with the CPU that
other processes used while it was measured; those taken on a busy machine
are marked (llama.cpp in particular collapses when another process takes a
core). docs/benchmarks.md ("Harness: gemma4 vs llama.cpp") has the details.

Only the standard library is needed here (numpy only as a fallback
bandwidth probe); the llama.cpp side needs `import llama_cpp`.

  python3 tools/bench/compare_llama.py --model /tmp/g4bench/e2b-q4_0.gguf --threads 2 --pairs 5
  python3 tools/bench/compare_llama.py --model M.gguf --quick --pairs 1     # smoke test: tiny sizes
"""

import argparse
import importlib.util
import json
import mmap
import os
import random
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import types

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TOKEN_LO, TOKEN_HI = 1000, 200000  # random prompt ids for llama.cpp: ordinary vocabulary entries

# ----------------------------------------------------------------------------- GGUF reader

# ggml type id -> (elements per block, bytes per block). Unknown types fall
# back to the distance between tensor offsets.
GGML_TYPES = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 30: (1, 2),
}
GGML_TYPE_NAMES = {0: "f32", 1: "f16", 2: "q4_0", 3: "q4_1", 6: "q5_0", 7: "q5_1", 8: "q8_0", 9: "q8_1",
                   10: "q2_K", 11: "q3_K", 12: "q4_K", 13: "q5_K", 14: "q6_K", 15: "q8_K", 30: "bf16"}


def read_gguf(path):
    """(metadata dict, list of (name, dims, type, offset, nbytes)); big arrays are skipped."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        pos = 0

        def take(fmt):
            nonlocal pos
            v = struct.unpack_from("<" + fmt, m, pos)
            pos += struct.calcsize("<" + fmt)
            return v[0] if len(v) == 1 else v

        def string():
            nonlocal pos
            n = take("Q")
            s = m[pos:pos + n].decode("utf-8", "replace")
            pos += n
            return s

        scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

        def value(t):
            nonlocal pos
            if t in scalar:
                return take(scalar[t])
            if t == 8:
                return string()
            if t == 9:
                et, n = take("I"), take("Q")
                if et in scalar and n > 64:  # a long numeric array: skip it
                    pos += n * struct.calcsize(scalar[et])
                    return None
                if et == 8 and n > 64:
                    for _ in range(n):
                        pos += 8 + struct.unpack_from("<Q", m, pos)[0]
                    return None
                return [value(et) for _ in range(n)]
            raise ValueError(f"{path}: unknown GGUF value type {t}")

        if m[:4] != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        pos = 4
        version = take("I")
        if version < 2:
            raise ValueError(f"{path}: GGUF version {version} is not supported")
        n_tensors, n_kv = take("Q"), take("Q")
        meta = {}
        for _ in range(n_kv):
            key = string()
            meta[key] = value(take("I"))
        infos = []
        for _ in range(n_tensors):
            name = string()
            nd = take("I")
            dims = [take("Q") for _ in range(nd)]
            infos.append((name, dims, take("I"), take("Q")))
        align = meta.get("general.alignment", 32) or 32
        data_start = (pos + align - 1) // align * align
        file_size = len(m)
    tensors = []
    by_offset = sorted(range(len(infos)), key=lambda i: infos[i][3])
    next_offset = {}
    for a, b in zip(by_offset, by_offset[1:] + [None]):
        next_offset[a] = (infos[b][3] if b is not None else file_size - data_start)
    for i, (name, dims, t, off) in enumerate(infos):
        n = 1
        for d in dims:
            n *= d
        if t in GGML_TYPES:
            blk, size = GGML_TYPES[t]
            nbytes = n // blk * size
        else:
            nbytes = next_offset[i] - off
        tensors.append((name, dims, t, off, nbytes))
    return meta, tensors


def bytes_per_token(path):
    """Bytes of weights one generated token reads, with a breakdown."""
    meta, tensors = read_gguf(path)
    arch = meta.get("general.architecture", "gemma4")
    n_exp = meta.get(f"{arch}.expert_count") or 0
    k_exp = meta.get(f"{arch}.expert_used_count") or 0
    names = {t[0] for t in tensors}
    tied = "output.weight" not in names
    parts = {"layers (dense)": 0, "experts (active)": 0, "embedding rows": 0, "output head": 0, "other": 0}
    for name, dims, _t, _off, nbytes in tensors:
        if name.startswith(("v.", "a.", "mm.")):  # vision/audio towers: not used by text decode
            continue
        if name in ("token_embd.weight", "per_layer_token_embd.weight"):
            rows = dims[1] if len(dims) > 1 else 1
            parts["embedding rows"] += nbytes / rows
            if name == "token_embd.weight" and tied:
                parts["output head"] += nbytes
        elif name == "output.weight":
            parts["output head"] += nbytes
        elif name.startswith("blk."):
            if "_exps" in name and n_exp:
                parts["experts (active)"] += nbytes * k_exp / n_exp
            else:
                parts["layers (dense)"] += nbytes
        else:
            parts["other"] += nbytes
    types = {}
    for _name, _dims, t, _off, nbytes in tensors:
        key = GGML_TYPE_NAMES.get(t, f"type{t}")
        types[key] = types.get(key, 0) + nbytes
    info = {"experts": n_exp, "experts_used": k_exp, "tied_head": tied, "types": types,
            "bos": meta.get("tokenizer.ggml.bos_token_id"),
            "add_bos": meta.get("tokenizer.ggml.add_bos_token", True)}
    return sum(parts.values()), parts, info


# ----------------------------------------------------------------------------- processes

def cpu_busy_seconds():
    """CPU seconds all cores have spent busy since boot (Linux /proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def run_measured(cmd, timeout, env=None):
    """Runs cmd; returns .rc, .out, .err, .rss (peak RSS in KiB), .wall (s) and
    .others: cores' worth of CPU that other processes used meanwhile (busy CPU
    time of the whole machine minus the child's own, over the wall time; the
    machine is shared and a competing process distorts a measurement, most of
    all llama.cpp's). os.wait4 gives this child's own rusage, so the peak
    belongs to it alone."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        busy0 = cpu_busy_seconds()
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        killer = threading.Timer(timeout, p.kill)
        killer.start()
        try:
            _pid, status, usage = os.wait4(p.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        busy1 = cpu_busy_seconds()
        others = None
        if busy0 is not None and busy1 is not None and wall > 0:
            others = max(0.0, (busy1 - busy0 - usage.ru_utime - usage.ru_stime) / wall)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return types.SimpleNamespace(rc=p.returncode, out=out.read().decode("utf-8", "replace"),
                                     err=err.read().decode("utf-8", "replace"), rss=usage.ru_maxrss,
                                     wall=wall, others=others)


def tail(text, n=6):
    return "\n".join(("    " + line) for line in text.strip().splitlines()[-n:])


class Failure(Exception):
    pass


# ----------------------------------------------------------------------------- gemma4 side

def ours(args, model, test, cfg):
    """One measurement with gemma4: (value, peak RSS KiB, other processes' load in cores)."""
    g, t = args.gemma4, str(args.threads)
    if test == "ttft":
        cmd = [g, "run", "-m", model, "-t", t, "-b", str(args.batch), "-c", str(cfg["ttft"] + 8), "-n", "1",
               "--temp", "0", "-p", cfg["ttft_text"]]
    else:
        p, n, d = {"pp": (cfg["pp"], 0, 0), "tg": (0, cfg["tg"], 0), "depth": (0, cfg["tg"], cfg["depth"])}[test]
        cmd = [g, "bench", "-m", model, "-t", t, "-b", str(args.batch), "-r", "1", "--json",
               "-p", str(p), "-n", str(n), "-d", str(d)]
    r = run_measured(cmd, args.timeout)
    if r.rc != 0:
        raise Failure(f"gemma4 exited with {r.rc}:\n{tail(r.err or r.out)}")
    if test == "ttft":
        m = re.search(r"prompt (\d+) tokens, ([0-9.]+) tok/s", r.err)
        if not m:
            raise Failure(f"no timing line from gemma4 run:\n{tail(r.err)}")
        n_tok, tps = int(m.group(1)), float(m.group(2))
        if n_tok != cfg["ttft"]:
            raise Failure(f"gemma4 run saw {n_tok} prompt tokens, expected {cfg['ttft']}")
        return 1000.0 * n_tok / tps, r.rss, r.others
    res = json.loads(r.out[r.out.index("["):])
    return float(res[0]["samples_ts"][0]), r.rss, r.others


def ttft_prompt(args, model, n_tokens, info):
    """A text that `gemma4 run` turns into exactly n_tokens tokens (BOS
    included), and those ids for llama.cpp."""
    bos = [info["bos"]] if info["bos"] is not None and info["add_bos"] else []
    want = n_tokens - len(bos)
    for text in (" a" * want, "a" + " a" * (want - 1), " the" * want, "x" * want):
        r = run_measured([args.gemma4, "tokenize", "-m", model, "-p", text, "--ids"], 600)
        if r.rc != 0:
            raise Failure(f"gemma4 tokenize failed:\n{tail(r.err)}")
        ids = [int(x) for x in r.out.split()]
        if len(ids) == want:
            return text, bos + ids
    raise Failure(f"found no text that tokenizes to {want} tokens")


def info_estimate(args, model, n_ctx):
    """`gemma4 info`'s total memory estimate in bytes at n_ctx, or None."""
    r = run_measured([args.gemma4, "info", model, "-c", str(n_ctx)], 600)
    m = re.search(r"^\s*total\s+.*\((\d+) bytes\)", r.out, re.M) if r.rc == 0 else None
    return int(m.group(1)) if m else None


# ----------------------------------------------------------------------------- llama.cpp side

def llama_worker(args):
    """Child process: one llama.cpp measurement, printed as a JSON line."""
    import resource
    import llama_cpp
    from llama_cpp import Llama

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    test, n_ctx = args.llama_worker, args.ctx
    t0 = time.perf_counter()
    llm = Llama(model_path=args.model[0], n_threads=args.threads, n_threads_batch=args.threads, n_ctx=n_ctx,
                n_batch=args.batch, n_ubatch=args.batch, flash_attn=args.llama_flash_attn == "on",
                swa_full=args.llama_swa_full == "on", verbose=False)
    load_s = time.perf_counter() - t0
    rng = random.Random(args.seed)

    def draw(n):
        return [rng.randrange(TOKEN_LO, TOKEN_HI) for _ in range(n)]

    def clear():
        llm.reset()  # n_tokens = 0: eval() then drops every cached position
        if hasattr(llm._ctx, "kv_cache_clear"):
            llm._ctx.kv_cache_clear()

    def logits_ready():
        ptr = llm._ctx.get_logits()  # the last evaluated token's logits
        return ptr[0]

    def run_once(depth, n_prompt, n_gen):
        clear()
        if depth:
            llm.eval(draw(depth))
        prompt, gen = draw(n_prompt), draw(n_gen)
        start = time.perf_counter()
        if prompt:
            llm.eval(prompt)
        for tok in gen:
            llm.eval([tok])
        return time.perf_counter() - start

    if test == "ttft":
        with open(args.tokens_file) as f:
            ids = [int(x) for x in f.read().split()]
        start = time.perf_counter()  # first request after loading, as `gemma4 run` measures it
        llm.eval(ids)
        logits_ready()
        value = 1000.0 * (time.perf_counter() - start)
    elif test == "pp":
        run_once(0, args.n, 0)  # untimed warm-up run, as `gemma4 bench` does
        value = args.n / run_once(0, args.n, 0)
    elif test == "tg":
        run_once(0, 0, args.n)  # untimed warm-up run (its first token is the 1-token warm-up)
        value = args.n / run_once(0, 0, args.n)
    elif test == "depth":
        llm.eval(draw(1))  # 1-token warm-up; the untimed depth prefill warms up the rest
        value = args.n / run_once(args.depth, 0, args.n)
    else:
        raise SystemExit(f"unknown worker test {test}")
    print(json.dumps({"value": value, "load_s": load_s, "rss_before_load_kib": rss_before,
                      "llama_cpp": getattr(llama_cpp, "__version__", "?")}))


def theirs(args, model, test, cfg):
    """One measurement with llama.cpp in a fresh Python process: (value, peak RSS KiB, others' load, worker JSON)."""
    me = os.path.abspath(__file__)
    base = [sys.executable, me, "--llama-worker", test, "--model", model, "--threads", str(args.threads),
            "--batch", str(args.batch), "--seed", str(args.seed), "--llama-flash-attn", args.llama_flash_attn,
            "--llama-swa-full", args.llama_swa_full]
    if test == "ttft":
        cmd = base + ["--ctx", str(cfg["ttft"] + 8), "--tokens-file", cfg["ttft_ids_file"]]
    elif test == "pp":
        cmd = base + ["--ctx", str(cfg["pp"] + 1), "--n", str(cfg["pp"])]
    elif test == "tg":
        cmd = base + ["--ctx", str(cfg["tg"] + 1), "--n", str(cfg["tg"])]
    else:
        cmd = base + ["--ctx", str(cfg["depth"] + cfg["tg"] + 1), "--n", str(cfg["tg"]),
                      "--depth", str(cfg["depth"])]
    r = run_measured(cmd, args.timeout)
    lines = [line for line in r.out.splitlines() if line.startswith("{")]
    if r.rc != 0 or not lines:
        raise Failure(f"llama.cpp worker exited with {r.rc}:\n{tail(r.err or r.out)}")
    res = json.loads(lines[-1])
    return res["value"], r.rss, r.others, res


# ----------------------------------------------------------------------------- bandwidth

def find_bench_kernels(args):
    if args.bench_kernels:
        return args.bench_kernels
    for rel in ("build/release/tools/bench/bench_kernels", "build/rel/tools/bench/bench_kernels"):
        p = os.path.join(ROOT, rel)
        if os.access(p, os.X_OK):
            return p
    return None


def numpy_bandwidth(threads, reps):
    """Fallback probe: `threads` Python threads sum 16 MiB chunks of a 1 GiB
    uint64 array (numpy releases the GIL inside the sum); median of reps."""
    import numpy as np
    buf = np.ones(1 << 27, dtype=np.uint64)
    chunk = 1 << 21
    n_chunks = buf.size // chunk
    rates = []
    for _ in range(max(reps, 1)):
        counter = iter(range(n_chunks))
        lock = threading.Lock()

        def work():
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                buf[i * chunk:(i + 1) * chunk].sum()

        ts = [threading.Thread(target=work) for _ in range(threads)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        rates.append(buf.nbytes / (time.perf_counter() - t0))
    return statistics.median(rates)


def measure_bandwidth(args):
    """(bytes/s, how it was measured)."""
    if args.bandwidth:
        return args.bandwidth * 1e9, "given with --bandwidth"
    reps = 1 if args.quick else 3
    bk = find_bench_kernels(args)
    if bk:
        env = dict(os.environ, GEMMA4_THREADS=str(args.threads))
        cmd = [bk, "--benchmark_filter=^BM_ReadBandwidth", f"--benchmark_repetitions={reps}",
               "--benchmark_format=json"]
        r = run_measured(cmd, 600, env=env)
        try:
            runs = [b for b in json.loads(r.out)["benchmarks"] if b.get("run_type") == "iteration"]
        except (ValueError, KeyError):
            runs = []
        rates = [b["bytes_per_second"] for b in runs if "bytes_per_second" in b]
        if r.rc == 0 and rates:
            return statistics.median(rates), f"BM_ReadBandwidth of {bk}, {args.threads} threads, median of {len(rates)}"
        print(f"bench_kernels failed ({r.rc}); falling back to the numpy probe:\n{tail(r.err)}", file=sys.stderr)
    try:
        return numpy_bandwidth(args.threads, reps), f"numpy probe ({args.threads} threads, 1 GiB), median of {reps}"
    except ImportError:
        return None, "not measured (no bench_kernels, no numpy; pass --bandwidth GB/s)"


# ----------------------------------------------------------------------------- report

TESTS = ("pp", "tg", "depth", "ttft")


def test_label(test, cfg):
    return {"pp": f"pp{cfg['pp']} (t/s)", "tg": f"tg{cfg['tg']} (t/s)",
            "depth": f"tg{cfg['tg']}@d{cfg['depth']} (t/s)", "ttft": f"TTFT {cfg['ttft']} tokens (ms)"}[test]


def fmt(v, digits=2):
    return "—" if v is None else f"{v:.{digits}f}"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratios(a, b):
    return [x / y for x, y in zip(a, b) if x is not None and y is not None and y > 0]


def report(model, cfg, results, rss, roof, bw_note, bpt, parts, info, estimate, llama_ok, worker_info, load,
           busy_limit):
    print(f"\n### {os.path.basename(model)}\n")
    types = ", ".join(f"{k} {v / 2**30:.2f} GiB" for k, v in sorted(info["types"].items(), key=lambda kv: -kv[1]))
    print(f"File {model} ({types}); {cfg['threads']} threads; {cfg['pairs']} interleaved pairs "
          f"(gemma4 first in each); ratio = median over pairs of gemma4/llama.cpp "
          f"(> 1 is better for gemma4 in t/s rows, < 1 in ms and MiB rows).\n")
    print("| test | gemma4 (median) | llama.cpp (median) | ratio | gemma4 % of roof | llama.cpp % of roof |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for test in cfg["tests"]:
        a, b = results[test]["gemma4"], results[test]["llama"]
        ma, mb = med(a), med(b)
        r = med(ratios(a, b))
        pa = pb = ""
        if test in ("tg", "depth") and roof:
            pa = f"{100 * ma / roof['tps']:.0f} %" if ma else "—"
            pb = f"{100 * mb / roof['tps']:.0f} %" if mb else "—"
        print(f"| {test_label(test, cfg)} | {fmt(ma)} | {fmt(mb) if llama_ok else 'n/a'} | "
              f"{fmt(r, 3) if r else '—'} | {pa} | {pb} |")
    if rss["gemma4"]:
        src = rss["from"]
        a = [x / 1024 for x in rss["gemma4"]]
        b = [x / 1024 for x in rss["llama"]] if rss["llama"] else []
        r = med(ratios(a, b))
        print(f"| peak RSS, {src} process (MiB) | {fmt(med(a), 0)} | {fmt(med(b), 0) if b else 'n/a'} | "
              f"{fmt(r, 3) if r else '—'} | | |")
    print()
    part_txt = ", ".join(f"{k} {v / 1e6:.1f} MB" if v >= 1e5 else f"{k} {v / 1e3:.1f} kB"
                         for k, v in parts.items() if v)
    print(f"Bytes of weights read per generated token: {bpt / 1e6:.1f} MB ({part_txt}"
          + (f"; {info['experts_used']} of {info['experts']} experts" if info["experts"] else "")
          + (", tied head = whole token_embd" if info["tied_head"] else "") + ").")
    if roof:
        print(f"Read bandwidth: {roof['bw'] / 1e9:.1f} GB/s ({roof['note']}) → roof {roof['tps']:.2f} t/s "
              f"(tg rows; at depth the KV cache reads come on top).")
    else:
        print(f"Read bandwidth: {bw_note}; no roof.")
    if estimate is not None and rss["gemma4"]:
        print(f"`gemma4 info -c {rss['ctx']}` estimate: {estimate / 2**20:.0f} MiB "
              f"(measured gemma4 peak {med(rss['gemma4']) / 1024:.0f} MiB).")
    if worker_info:
        w = worker_info
        print(f"llama.cpp: llama-cpp-python {w.get('llama_cpp')}, flash_attn {cfg['fa']}, swa_full {cfg['swa_full']}, "
              f"F16 KV cache; its worker process held {w.get('rss_before_load_kib', 0) / 1024:.0f} MiB "
              f"(Python + libraries) before loading the model, included in its RSS.")

    all_loads = [x for t in cfg["tests"] for side in ("gemma4", "llama") for x in load[t][side] if x is not None]
    busy = [x for x in all_loads if x > busy_limit]
    if busy:
        print(f"\n**Warning**: {len(busy)} of {len(all_loads)} measurements ran while other processes used more "
              f"than {busy_limit} cores (up to {max(busy):.2f}); those numbers (marked ! below) are not "
              "trustworthy: rerun on a quiet machine.")

    print("\nRaw numbers per pair (gemma4 / llama.cpp / ratio; ! = other processes used more than "
          f"{busy_limit} cores meanwhile):\n")
    rows = [(test_label(t, cfg), results[t]["gemma4"], results[t]["llama"], load[t]) for t in cfg["tests"]]
    if rss["gemma4"]:
        rows.append((f"peak RSS {rss['from']} (MiB)", [x / 1024 for x in rss["gemma4"]],
                     [x / 1024 for x in rss["llama"]], None))
    for label, a, b, ld in rows:
        cells = []
        for i in range(len(a)):
            x = a[i]
            y = b[i] if i < len(b) else None
            r = x / y if x is not None and y else None
            mark = ["", ""]
            if ld:
                for j, side in enumerate(("gemma4", "llama")):
                    o = ld[side][i] if i < len(ld[side]) else None
                    mark[j] = "!" if o is not None and o > busy_limit else ""
            cells.append(f"{fmt(x)}{mark[0]} / {fmt(y)}{mark[1]} / {fmt(r, 3)}")
        print(f"- {label}: " + "; ".join(cells))


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Tests: pp, tg, depth (tgN@dD), ttft. Peak RSS comes from the depth "
                                        "processes (else the largest process run).")
    ap.add_argument("--model", "-m", action="append", default=[], help="GGUF file (repeatable)")
    ap.add_argument("--threads", "-t", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=5, help="interleaved gemma4/llama.cpp pairs per test")
    ap.add_argument("--tests", nargs="+", choices=TESTS, default=list(TESTS))
    ap.add_argument("--gemma4", default=os.path.join(ROOT, "build", "release", "bin", "gemma4"))
    ap.add_argument("--quick", action="store_true", help="tiny sizes for a smoke test (pp32 tg8 @d64 ttft32)")
    ap.add_argument("--pp", type=int, default=512)
    ap.add_argument("--tg", type=int, default=128)
    ap.add_argument("--depth", type=int, default=4096)
    ap.add_argument("--ttft", type=int, default=512)
    ap.add_argument("--batch", type=int, default=512, help="prompt tokens per step, both engines")
    ap.add_argument("--seed", type=int, default=1234, help="seed of llama.cpp's random prompt tokens")
    ap.add_argument("--bandwidth", type=float, help="read bandwidth in GB/s (skips measuring it)")
    ap.add_argument("--bench-kernels", help="bench_kernels binary for the bandwidth probe "
                                            "(default: build/release/tools/bench/bench_kernels if built)")
    ap.add_argument("--llama-flash-attn", choices=("on", "off"), default="on",
                    help="llama.cpp flash attention (on: what its default 'auto' picks on CPU)")
    ap.add_argument("--llama-swa-full", choices=("on", "off"), default="off",
                    help="llama.cpp full-size KV cache for sliding layers (off: llama-cli's default)")
    ap.add_argument("--no-llama", action="store_true", help="run gemma4 only")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per measurement")
    ap.add_argument("--json-out", help="also write every number to this JSON file")
    ap.add_argument("--busy-limit", type=float, default=0.25,
                    help="flag measurements during which other processes used more than this many cores")
    # Worker mode (internal).
    ap.add_argument("--llama-worker", choices=TESTS, help=argparse.SUPPRESS)
    ap.add_argument("--ctx", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--tokens-file", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.llama_worker:
        llama_worker(args)
        return 0
    if not args.model:
        ap.error("give at least one --model")
    if args.quick:
        args.pp, args.tg, args.depth, args.ttft = 32, 8, 64, 32
    if not os.access(args.gemma4, os.X_OK):
        ap.error(f"{args.gemma4}: not an executable (build it or pass --gemma4)")

    llama_ok = not args.no_llama and importlib.util.find_spec("llama_cpp") is not None
    if not args.no_llama and not llama_ok:
        print(f"llama_cpp is not importable by {sys.executable} (pip install llama-cpp-python, built for the "
              "native CPU): measuring gemma4 only.", file=sys.stderr)

    cfg = {"pp": args.pp, "tg": args.tg, "depth": args.depth, "ttft": args.ttft, "tests": args.tests,
           "threads": args.threads, "pairs": args.pairs, "fa": args.llama_flash_attn, "swa_full": args.llama_swa_full}
    everything = {"threads": args.threads, "pairs": args.pairs, "sizes": {k: cfg[k] for k in TESTS},
                  "llama_flash_attn": args.llama_flash_attn, "llama_swa_full": args.llama_swa_full, "models": []}
    their = f"llama-cpp-python ({sys.executable})" if llama_ok else "not run"
    print(f"gemma4: {args.gemma4}; llama.cpp: {their}", file=sys.stderr)

    for model in args.model:
        bpt, parts, info = bytes_per_token(model)
        bw_before, bw_note = measure_bandwidth(args)
        bw_txt = fmt(bw_before / 1e9, 1) if bw_before else "—"
        print(f"{model}: {bpt / 1e6:.1f} MB of weights per token; bandwidth {bw_txt} GB/s", file=sys.stderr)
        tmp = tempfile.TemporaryDirectory()
        if "ttft" in args.tests:
            cfg["ttft_text"], ids = ttft_prompt(args, model, args.ttft, info)
            cfg["ttft_ids_file"] = os.path.join(tmp.name, "ttft_ids.txt")
            with open(cfg["ttft_ids_file"], "w") as f:
                f.write(" ".join(map(str, ids)))
        results = {t: {"gemma4": [], "llama": []} for t in args.tests}
        rss_by_test = {t: {"gemma4": [], "llama": []} for t in args.tests}
        load = {t: {"gemma4": [], "llama": []} for t in args.tests}
        worker_info = None
        for pair in range(args.pairs):
            for test in args.tests:
                label = test_label(test, cfg)
                try:
                    v, r, o = ours(args, model, test, cfg)
                except Failure as e:
                    print(f"[pair {pair + 1}] {label}: gemma4 failed: {e}", file=sys.stderr)
                    v, r, o = None, None, None
                results[test]["gemma4"].append(v)
                rss_by_test[test]["gemma4"].append(r)
                load[test]["gemma4"].append(o)
                w = ow = None
                if llama_ok:
                    try:
                        w, rw, ow, worker_info = theirs(args, model, test, cfg)
                    except Failure as e:
                        print(f"[pair {pair + 1}] {label}: llama.cpp failed: {e}", file=sys.stderr)
                        w, rw = None, None
                    results[test]["llama"].append(w)
                    rss_by_test[test]["llama"].append(rw)
                    load[test]["llama"].append(ow)
                print(f"[pair {pair + 1}/{args.pairs}] {label}: gemma4 {fmt(v)}  llama.cpp {fmt(w)}  "
                      f"(other processes: {fmt(o)} / {fmt(ow)} cores)", file=sys.stderr)
        if not llama_ok:
            for t in args.tests:
                results[t]["llama"] = [None] * args.pairs
                load[t]["llama"] = [None] * args.pairs

        # Peak RSS: the depth run (context depth+tg+1 in both), else the largest one.
        src = "depth" if "depth" in args.tests else max(
            args.tests, key=lambda t: max([x or 0 for x in rss_by_test[t]["gemma4"]] or [0]))
        rss = {"from": test_label(src, cfg).split(" (")[0], "gemma4": [x for x in rss_by_test[src]["gemma4"] if x],
               "llama": [x for x in rss_by_test[src]["llama"] if x]}
        rss["ctx"] = {"pp": args.pp + 1, "tg": args.tg + 1, "depth": args.depth + args.tg + 1,
                      "ttft": args.ttft + 8}[src]
        estimate = info_estimate(args, model, rss["ctx"])

        bw_after, _ = measure_bandwidth(args) if not args.bandwidth else (bw_before, None)
        roof = None
        if bw_before:
            bw = (bw_before + (bw_after or bw_before)) / 2
            note = bw_note + (f"; {bw_before / 1e9:.1f} before, {bw_after / 1e9:.1f} after, mean"
                              if bw_after and not args.bandwidth else "")
            roof = {"bw": bw, "note": note, "tps": bw / bpt}
        report(model, cfg, results, rss, roof, bw_note, bpt, parts, info, estimate, llama_ok, worker_info, load,
               args.busy_limit)
        everything["models"].append({"model": model, "bytes_per_token": bpt, "parts": parts, "roof": roof,
                                     "results": results, "rss_kib": rss_by_test, "other_load_cores": load,
                                     "info_estimate": estimate})
        tmp.cleanup()
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(everything, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
