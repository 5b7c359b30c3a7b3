"""Time whole forward passes of Llama-architecture models on the GPU at hand, the way vLLM runs them minus its
scheduler and sampler: a decode step of B sequences at C tokens of context replayed as one CUDA graph (vLLM
captures decode steps as graphs too), and prefill chunks of T tokens run eagerly with causal flash attention.

Why: scripts/gpu_kernels.py times kernels one at a time; a whole step also pays for the norms, rotary embeddings,
activations, cache writes and the gaps between ~12 kernels a layer, which is where small models and large batches
part from the sum of GEMM rooflines (issue 13, items 2 and 4). Comparing these steps with published vLLM
timings of the same models separates the forward pass from vLLM's own per-step work.

Weights are random (bf16, scaled so activations stay finite), shaped per GPU at the given TP degree, without the
all-reduces (one GPU); the KV cache is contiguous rather than paged. Run on a CUDA machine:
`python3 scripts/gpu_model_step.py --output results/calibration/gpu_kernels/h100_steps.json`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from gpu_timing import median_seconds, script_options


@dataclass(frozen=True)
class Arch:
    name: str
    tp: int
    layers: int
    d_model: int
    heads: int
    kv_heads: int
    head_dim: int
    d_ff: int
    vocab: int


# Shapes from the models' Hugging Face config.json (meta-llama Llama-3.2-1B, Llama-3.1-8B, Llama-3.1-70B).
ARCHS = [
    Arch("llama-3.2-1b", 1, 16, 2048, 32, 8, 64, 8192, 128256),
    Arch("llama-3.1-8b", 1, 32, 4096, 32, 8, 128, 14336, 128256),
    Arch("llama-3.1-8b", 2, 32, 4096, 32, 8, 128, 14336, 128256),
    Arch("llama-3.1-70b", 4, 80, 8192, 64, 8, 128, 28672, 128256),
]
BATCHES = [1, 8, 32, 64, 128, 256]
CONTEXTS = [512, 2048, 8192]
PREFILL_TOKENS = [128, 512, 2048, 8192]


class Model:
    """One GPU's share of the model at TP degree `tp`: heads, KV heads, MLP width and vocabulary divided by tp."""

    def __init__(self, a: Arch, device: str, kv_tokens: int):
        self.a, self.device = a, device
        self.hq, self.hkv, self.ff = a.heads // a.tp, max(a.kv_heads // a.tp, 1), a.d_ff // a.tp
        qkv = (self.hq + 2 * self.hkv) * a.head_dim

        def weight(k: int, n: int) -> torch.Tensor:
            return torch.randn(k, n, device=device, dtype=torch.bfloat16) / k ** 0.5

        self.layers = [(weight(a.d_model, qkv), weight(self.hq * a.head_dim, a.d_model),
                        weight(a.d_model, 2 * self.ff), weight(self.ff, a.d_model)) for _ in range(a.layers)]
        self.norm = torch.ones(a.d_model, device=device, dtype=torch.bfloat16)
        self.lm_head = weight(a.d_model, a.vocab // a.tp)
        # [layer, k/v, token slot, kv head, dim]: viewed as [batch, context] slots per case, like vLLM's blocks
        self.cache = torch.randn(a.layers, 2, kv_tokens, self.hkv, a.head_dim, device=device, dtype=torch.bfloat16)

    def weight_bytes(self) -> int:
        return 2 * (sum(sum(w.numel() for w in layer) for layer in self.layers) + self.lm_head.numel())

    def _rope(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rotated * sin

    def forward(self, x: torch.Tensor, batch: int, length: int, context: int, pos: torch.Tensor) -> torch.Tensor:
        """x: [batch * length, d_model]. Decode (length 1) attends over `context` cached tokens per sequence after
        writing its own K/V at slot `pos`; prefill (length > 1) attends causally within the chunk."""
        a = self.a
        hd = a.head_dim
        angle = pos.float()[:, None] * torch.arange(hd, device=self.device)[None, :] * 1e-4
        cos, sin = angle.cos().to(x.dtype)[:, None, :], angle.sin().to(x.dtype)[:, None, :]
        for i, (w_qkv, w_o, w_gu, w_down) in enumerate(self.layers):
            h = F.rms_norm(x, (a.d_model,), self.norm)
            q, k, v = (h @ w_qkv).split([self.hq * hd, self.hkv * hd, self.hkv * hd], dim=-1)
            q = self._rope(q.view(-1, self.hq, hd), cos, sin)
            k = self._rope(k.view(-1, self.hkv, hd), cos, sin)
            v = v.view(-1, self.hkv, hd)
            if length == 1:
                slots = self.cache[i, :, : batch * context].view(2, batch, context, self.hkv, hd)
                slots[0, :, -1], slots[1, :, -1] = k, v  # the new token's K/V into its sequence's last slot
                out = F.scaled_dot_product_attention(q.view(batch, self.hq, 1, hd), slots[0].transpose(1, 2),
                                                     slots[1].transpose(1, 2), enable_gqa=True)
            else:
                qs, ks, vs = (t.view(batch, length, -1, hd).transpose(1, 2) for t in (q, k, v))
                out = F.scaled_dot_product_attention(qs, ks, vs, is_causal=True, enable_gqa=True)
            x = x + out.transpose(1, 2).reshape(batch * length, -1) @ w_o
            gate, up = (F.rms_norm(x, (a.d_model,), self.norm) @ w_gu).chunk(2, dim=-1)
            x = x + (F.silu(gate) * up) @ w_down
        last = x.view(batch, length, -1)[:, -1]
        return F.rms_norm(last, (a.d_model,), self.norm) @ self.lm_head


def decode_step(model: Model, batch: int, context: int, device: str) -> float:
    """Seconds of one decode step, captured as a CUDA graph and replayed (eager on the CPU)."""
    x = torch.randn(batch, model.a.d_model, device=device, dtype=torch.bfloat16)
    pos = torch.full((batch,), context - 1, device=device)
    if device != "cuda":
        return median_seconds(lambda: model.forward(x, batch, 1, context, pos), 3, device, warmup=2)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):
            model.forward(x, batch, 1, context, pos)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        model.forward(x, batch, 1, context, pos)
    seconds = median_seconds(graph.replay, 20, device, warmup=2)
    del graph
    return seconds


def prefill(model: Model, tokens: int, device: str) -> float:
    """Seconds of one forward pass over a single prompt of `tokens` tokens (one chunk), eager."""
    x = torch.randn(tokens, model.a.d_model, device=device, dtype=torch.bfloat16)
    pos = torch.arange(tokens, device=device)
    with torch.inference_mode():
        return median_seconds(lambda: model.forward(x, 1, tokens, tokens, pos), 5, device, warmup=2)


def measure(a: Arch, device: str, quick: bool) -> dict:
    free = torch.cuda.mem_get_info()[0] if device == "cuda" else 2 ** 30
    weights = 2 * a.layers * (a.d_model * (a.heads + 2 * a.kv_heads) * a.head_dim + a.heads * a.head_dim *
                              a.d_model + 3 * a.d_model * a.d_ff) / a.tp
    kv_per_token = a.layers * 2 * max(a.kv_heads // a.tp, 1) * a.head_dim * 2
    kv_tokens = int(min((free - weights) * 0.5, 40e9) // kv_per_token)
    model = Model(a, device, kv_tokens)
    row: dict = {"arch": asdict(a), "weight_bytes": model.weight_bytes(), "kv_bytes_per_token": kv_per_token,
                 "decode": [], "prefill": []}
    with torch.inference_mode():
        for batch in ([1, 2] if quick else BATCHES):
            for context in ([16] if quick else CONTEXTS):
                if batch * context <= kv_tokens:
                    seconds = decode_step(model, batch, context, device)
                    row["decode"].append({"batch": batch, "context": context, "seconds": seconds})
                    print(f"{a.name} tp{a.tp} decode b={batch:3} ctx={context:5} {seconds * 1e3:8.3f} ms")
    for tokens in ([8] if quick else PREFILL_TOKENS):
        seconds = prefill(model, tokens, device)
        row["prefill"].append({"tokens": tokens, "seconds": seconds})
        print(f"{a.name} tp{a.tp} prefill {tokens:5} tokens {seconds * 1e3:8.3f} ms")
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return row


def main() -> None:
    args, device, quick = script_options(__doc__, "a two-layer toy model (checks the script on a CPU)")
    archs = [Arch("toy", 1, 2, 64, 4, 2, 16, 128, 256)] if quick else ARCHS
    result: dict = {"torch": torch.__version__, "command": "python3 scripts/gpu_model_step.py",
                    "gpu": torch.cuda.get_device_name() if device == "cuda" else "cpu", "models": []}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    for a in archs:
        try:
            result["models"].append(measure(a, device, quick))
        except Exception as error:  # noqa: BLE001 - one model failing on an unknown machine must not lose the rest
            result.setdefault("errors", []).append(f"{a.name} tp{a.tp}: {error!r}")
            print(f"{a.name} tp{a.tp} failed: {error!r}")
        args.output.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
