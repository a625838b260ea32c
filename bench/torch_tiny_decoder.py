#!/usr/bin/python3
"""bench/torch_tiny_decoder.py — PyTorch's side of bench/run.

The same tiny decoder as examples/tiny-1m/architecture.lua (vocab 4096, dim 128, 4 heads,
2 pre-norm blocks, RMSNorm eps 1e-6 weight-only, fused qkv, SwiGLU 512, tied head, embedding
N(0, 0.13^2): 1,049,216 parameters, asserted), the same byte tokens from the same text, and the
same step: a no-grad predict forward, then forward / backward / clip_grad_norm_ 1.0 / AdamW
(lr 5e-3, PyTorch defaults otherwise, which our optim.AdamW also uses).

Debian's python3-torch is 1.13, which has neither nn.RMSNorm nor F.scaled_dot_product_attention,
so both are written out with the standard ops (the usual way in 1.13-era code): attention is
q @ k^T * scale, a causal mask, softmax, @ v. Prints one "RESULT key=value ..." line for
bench/run.

usage: /usr/bin/python3 bench/torch_tiny_decoder.py [--steps N] [--warmup N] [--threads N]
                                                     [--batch B] [--seq T] [--text FILE]
"""
import argparse
import ctypes
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, DIM, N_HEADS, N_LAYERS, EXPECTED_PARAMS = 4096, 128, 4, 2, 1049216


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Attention(nn.Module):
    def __init__(self, dim, n_heads):
        super().__init__()
        self.n_heads, self.head_dim = n_heads, dim // n_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q = q.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        k = k.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        v = v.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        att = att.masked_fill(causal, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        return self.proj(y)


class SwiGLU(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, dim, n_heads):
        super().__init__()
        self.attn_norm = RMSNorm(dim)
        self.attn = Attention(dim, n_heads)
        self.mlp_norm = RMSNorm(dim)
        self.mlp = SwiGLU(dim, 4 * dim)

    def forward(self, x):
        x = x + self.attn(self.attn_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class TinyDecoder(nn.Module):
    def __init__(self, vocab, dim, n_heads, n_layers):
        super().__init__()
        self.vocab = vocab
        self.emb = nn.Embedding(vocab, dim)
        with torch.no_grad():
            self.emb.weight.normal_(0.0, 0.13)
        self.blocks = nn.ModuleList([Block(dim, n_heads) for _ in range(n_layers)])
        self.norm = RMSNorm(dim)

    def forward(self, tokens):
        h = self.emb(tokens)
        for block in self.blocks:
            h = block(h)
        return F.linear(self.norm(h), self.emb.weight)  # tied head

    def loss(self, tokens):
        T = tokens.shape[1]
        logits = self.forward(tokens)
        return F.cross_entropy(logits[:, : T - 1].reshape(-1, self.vocab), tokens[:, 1:].reshape(-1))


def openblas_corename():
    """The core OpenBLAS picked in this process (the library torch loaded), or 'n/a'."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line and "/" in line})
        for path in paths:
            lib = ctypes.CDLL(path)
            if hasattr(lib, "openblas_get_corename"):
                lib.openblas_get_corename.restype = ctypes.c_char_p
                return lib.openblas_get_corename().decode() + " (" + os.path.basename(path) + ")"
    except OSError:
        pass
    return "n/a"


def load_init(model, prefix):
    """Copies our runtime's initial weights in: names are ours with 1-based block indices."""
    state = model.state_dict()
    with open(prefix + ".txt") as f:
        entries = [line.split() for line in f if line.strip()]
    with open(prefix + ".bin", "rb") as f:
        blob = f.read()
    offset, seen = 0, set()
    for name, dims in entries:
        shape = [int(d) for d in dims.split(",")]
        parts = name.split(".")
        if parts[0] == "blocks":
            parts[1] = str(int(parts[1]) - 1)
        key = ".".join(parts)
        if key not in state or list(state[key].shape) != shape:
            raise SystemExit(f"torch_tiny_decoder.py: --load-init: no parameter {key} of shape {shape}")
        n = math.prod(shape) * 4
        values = torch.frombuffer(bytearray(blob[offset : offset + n]), dtype=torch.float32).view(shape)
        with torch.no_grad():
            state[key].copy_(values)
        offset += n
        seen.add(key)
    missing = set(k for k in state) - seen
    if missing or offset != len(blob):
        raise SystemExit(f"torch_tiny_decoder.py: --load-init: missing {sorted(missing)} or trailing bytes")


def peak_rss_kb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--text", default="tests/fixtures/sample.txt")
    ap.add_argument("--load-init", metavar="PREFIX",
                    help="start from the weights bench/tiny_decoder.lua --save-init PREFIX wrote")
    args = ap.parse_args()
    if args.steps < 1 or args.warmup < 0 or args.threads < 1 or args.batch < 1 or args.seq < 2:
        ap.error("--steps, --threads, --batch must be >= 1, --warmup >= 0, --seq >= 2")

    torch.set_num_threads(args.threads)
    torch.manual_seed(1337)
    with open(args.text, "rb") as f:
        data = f.read()
    B, T = args.batch, args.seq
    n_batches = len(data) // (B * T)
    if n_batches < 1:
        raise SystemExit(f"torch_tiny_decoder.py: {args.text} is shorter than one batch")

    def batch(k):
        base = (k % n_batches) * B * T
        return torch.tensor(list(data[base : base + B * T]), dtype=torch.int64).view(B, T)

    model = TinyDecoder(VOCAB, DIM, N_HEADS, N_LAYERS)
    if args.load_init:
        load_init(model, args.load_init)
    params = list(model.parameters())  # unique tensors: the tied head is emb.weight
    count = sum(p.numel() for p in params)
    if count != EXPECTED_PARAMS:
        raise SystemExit(f"torch_tiny_decoder.py: {count} parameters, expected {EXPECTED_PARAMS}")
    opt = torch.optim.AdamW(params, lr=5e-3)

    losses = []

    def step(k):
        tokens = batch(k)
        with torch.no_grad():
            model.loss(tokens).item()  # the instrument's predict
        opt.zero_grad(set_to_none=True)
        loss = model.loss(tokens)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())

    for k in range(args.warmup):
        step(k)
    t0 = time.perf_counter()
    for k in range(args.warmup, args.warmup + args.steps):
        step(k)
    elapsed = time.perf_counter() - t0

    print(f"INFO torch={torch.__version__} openblas_core={openblas_corename()} "
          f"intra_op_threads={torch.get_num_threads()} interop_threads={torch.get_num_interop_threads()}")
    print(f"RESULT side=torch params={count} threads={torch.get_num_threads()} batch={B} seq={T} steps={args.steps} "
          f"seconds={elapsed:.6f} tokens_per_s={args.steps * B * T / elapsed:.1f} peak_rss_kb={peak_rss_kb()} "
          f"first_loss={losses[0]:.6f} last_loss={losses[-1]:.6f}")


if __name__ == "__main__":
    main()
