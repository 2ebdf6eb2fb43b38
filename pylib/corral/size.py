"""Model sizing from a config.json: weights, KV cache, and how the model fits each GPU profile.

For each profile: the smallest tensor-parallel size that fits, and the concurrency it gives at
the max context.

Assumptions (stated in `corral size` output): per-GPU overhead for activations, CUDA graphs and
the runtime is OVERHEAD_BYTES; weights split evenly over tensor-parallel ranks; KV heads split
over min(tp, kv_heads) ranks (MLA's latent cache is replicated on every rank).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral import chart
from corral.errors import ValuesError

GiB = 1024**3
MiB = 1024**2
OVERHEAD_BYTES = 2 * GiB
DEFAULT_FRACTION = 0.9
TP_SIZES = (1, 2, 4, 8)
DTYPE_BYTES = {"float32": 4.0, "float16": 2.0, "bfloat16": 2.0, "float8_e4m3fn": 1.0}
# Bytes per weight of linear layers for a quantization method (embeddings and norms keep dtype).
QUANT_BYTES = {
    "fp8": 1.0,
    "fbgemm_fp8": 1.0,
    "modelopt": 1.0,
    "int8": 1.0,
    "w8a8_int8": 1.0,
    "awq": 0.5,
    "gptq": 0.5,
    "awq_marlin": 0.5,
    "gptq_marlin": 0.5,
    "marlin": 0.5,
    "bitsandbytes": 0.5,
    "modelopt_fp4": 0.5,
    "nvfp4": 0.5,
    "mxfp4": 0.5,
}


@dataclass(frozen=True)
class Model:
    """What sizing needs from a config.json (a VLM's text_config for its language model)."""

    name: str
    config: dict[str, Any]
    text: dict[str, Any]
    index_bytes: int | None  # total_size from model.safetensors.index.json

    def get(self, *keys: str, default: Any = None) -> Any:
        """The first of these keys present in the text config, else in the top-level config."""
        for source in (self.text, self.config):
            for key in keys:
                if source.get(key) is not None:
                    return source[key]
        return default

    @property
    def hidden(self) -> int:
        """Hidden size."""
        return int(self.get("hidden_size", "d_model"))

    @property
    def layers(self) -> int:
        """Decoder layers."""
        return int(self.get("num_hidden_layers", "n_layer"))

    @property
    def heads(self) -> int:
        """Attention heads."""
        return int(self.get("num_attention_heads", "n_head"))

    @property
    def kv_heads(self) -> int:
        """Key/value heads (GQA)."""
        return int(self.get("num_key_value_heads", default=self.heads))

    @property
    def head_dim(self) -> int:
        """Dimension of one attention head."""
        return int(self.get("head_dim", default=self.hidden // self.heads))

    @property
    def mla(self) -> bool:
        """True for multi-head latent attention (DeepSeek)."""
        return self.get("kv_lora_rank") is not None

    @property
    def dtype(self) -> str:
        """The checkpoint dtype."""
        return str(self.get("torch_dtype", "dtype", default="bfloat16"))

    @property
    def quantization(self) -> tuple[str, float] | None:
        """(method, bytes per linear weight) from the checkpoint's quantization_config."""
        qc = self.get("quantization_config")
        if not isinstance(qc, Mapping):
            return None
        method = str(qc.get("quant_method", "unknown"))
        bits = qc.get("bits") or qc.get("w_bit")
        if bits:
            return method, int(bits) / 8
        if method == "compressed-tensors":
            groups: dict[str, Any] = qc.get("config_groups") or {}
            first: dict[str, Any] = next(iter(groups.values()), {})
            return method, int(first.get("weights", {}).get("num_bits", 8)) / 8
        return method, QUANT_BYTES.get(method, 1.0)

    @property
    def max_context(self) -> int:
        """The model's own maximum context."""
        return int(self.get("max_position_embeddings", "n_positions", default=4096))


def load_model(path: Path) -> Model:
    """A config.json, a model directory, or a Hugging Face cache directory (models--org--name)."""
    config_path = _find_config(path)
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as err:
        raise ValuesError(f"{config_path}: not a readable config.json: {err}") from None
    index = config_path.parent / "model.safetensors.index.json"
    total = None
    if index.exists():
        total = int(json.loads(index.read_text()).get("metadata", {}).get("total_size", 0)) or None
    text = config.get("text_config") or config.get("llm_config") or {}
    name = str(config.get("_name_or_path") or config_path.parent.name)
    return Model(name, config, text, total)


def _find_config(path: Path) -> Path:
    if path.is_file():
        return path
    if (path / "config.json").exists():
        return path / "config.json"
    snapshots = path / "snapshots"
    if snapshots.is_dir():
        ref = path / "refs" / "main"
        if ref.exists() and (snapshots / ref.read_text().strip() / "config.json").exists():
            return snapshots / ref.read_text().strip() / "config.json"
        found = sorted(snapshots.glob("*/config.json"))
        if found:
            return found[-1]
    raise ValuesError(f"{path}: no config.json (give a file, a model directory or a HF cache dir)")


def parameters(m: Model) -> dict[str, int]:
    """Parameter counts of the language model, by kind.

    Embeddings (with an untied LM head), attention and MLP/expert linear layers, and norms (incl.
    Qwen3's per-head q/k norms). Small biases some architectures add (gpt-oss's sinks and expert
    biases) and vision encoders are not counted.
    """
    h, layers, vocab = m.hidden, m.layers, int(m.get("vocab_size"))
    tied = bool(m.get("tie_word_embeddings", default=False))
    qk_norm = 2 * m.head_dim if str(m.get("model_type", default="")).startswith("qwen3") else 0
    return {
        "embedding": vocab * h * (1 if tied else 2),
        "attention": layers * _attention(m),
        "mlp": sum(_mlp(m, layer) for layer in range(layers)),
        "norm": h * (2 * layers + 1) + layers * qk_norm,
    }


def _attention(m: Model) -> int:
    h, heads = m.hidden, m.heads
    if not m.mla:
        q, kv = heads * m.head_dim, m.kv_heads * m.head_dim
        bias = (
            (q + 2 * kv) if m.get("attention_bias", default=m.get("model_type") == "qwen2") else 0
        )
        return h * q + 2 * h * kv + q * h + bias
    rope, nope = int(m.get("qk_rope_head_dim")), int(m.get("qk_nope_head_dim"))
    v_dim, kv_rank = int(m.get("v_head_dim")), int(m.get("kv_lora_rank"))
    q_rank = m.get("q_lora_rank")
    q = (
        h * q_rank + q_rank + q_rank * heads * (nope + rope)
        if q_rank
        else h * heads * (nope + rope)
    )
    return q + h * (kv_rank + rope) + kv_rank + kv_rank * heads * (nope + v_dim) + heads * v_dim * h


def _mlp(m: Model, layer: int) -> int:
    h = m.hidden
    experts = m.get("num_local_experts", "n_routed_experts", "num_experts")
    dense_layers = int(m.get("first_k_dense_replace", default=0))
    if not experts or layer < dense_layers:
        return 3 * h * int(m.get("intermediate_size"))
    moe = int(m.get("moe_intermediate_size", "intermediate_size"))
    shared = int(m.get("n_shared_experts", default=0))
    shared_size = int(m.get("shared_expert_intermediate_size", default=moe * shared))
    router = h * int(experts)
    if m.get("topk_method") == "noaux_tc":  # DeepSeek-V3's routing correction bias
        router += int(experts)
    return int(experts) * 3 * h * moe + 3 * h * shared_size + router


def weight_bytes(m: Model, quantization: str | None = None) -> int:
    """Weight bytes: the safetensors index total when present (unless quantized on load)."""
    if m.index_bytes and not quantization:
        return m.index_bytes
    dtype = DTYPE_BYTES.get(m.dtype, 2.0)
    linear = QUANT_BYTES.get(quantization or "")
    if linear is None:
        linear = m.quantization[1] if m.quantization else dtype
    p = parameters(m)
    attention = dtype if _unquantized(m, "self_attn") and not quantization else linear
    return int(
        (p["embedding"] + p["norm"]) * dtype + p["attention"] * attention + p["mlp"] * linear
    )


def _unquantized(m: Model, module: str) -> bool:
    """True when the checkpoint's quantization_config leaves this module in its dtype."""
    qc = m.get("quantization_config")
    skipped = (
        qc.get("modules_to_not_convert") or qc.get("ignore") or [] if isinstance(qc, dict) else []
    )
    return any(module in str(pattern) for pattern in skipped)


def kv_layout(m: Model, kv_dtype_bytes: float = 2.0) -> tuple[int, int, int | None]:
    """(KV bytes per token per layer, full-attention layers, sliding window or None)."""
    if m.mla:
        per_layer = int(
            (int(m.get("kv_lora_rank")) + int(m.get("qk_rope_head_dim"))) * kv_dtype_bytes
        )
    else:
        per_layer = int(2 * m.kv_heads * m.head_dim * kv_dtype_bytes)
    window = m.get("sliding_window")
    if not window or m.get("use_sliding_window") is False:
        return per_layer, m.layers, None
    types = m.get("layer_types")
    if isinstance(types, list):
        full = sum(1 for t in types if t == "full_attention")
    elif m.get("sliding_window_pattern"):
        full = m.layers // int(m.get("sliding_window_pattern"))
    elif m.get("model_type") == "gemma2":
        full = m.layers // 2
    else:
        full = 0
    return per_layer, full, int(window)


def kv_bytes_per_token(m: Model) -> int:
    """KV-cache bytes one token takes in every layer (sliding layers count until the window)."""
    per_layer, _, _ = kv_layout(m)
    return per_layer * m.layers


def sequence_kv_bytes(m: Model, tokens: int) -> int:
    """KV-cache bytes of one sequence of this many tokens (sliding layers capped at the window)."""
    per_layer, full, window = kv_layout(m)
    sliding = m.layers - full
    return per_layer * (full * tokens + sliding * min(tokens, window or tokens))


@dataclass(frozen=True)
class Fit:
    """How the model fits one GPU profile at its smallest tensor-parallel size."""

    profile: str
    memory_mib: int
    tensor_parallel: int | None
    kv_tokens: int
    max_concurrency: int


def fit(
    m: Model,
    profile: str,
    memory_mib: int,
    *,
    fraction: float,
    context: int,
    quantization: str | None = None,
    max_tp: int = 8,
) -> Fit:
    """The smallest TP whose ranks hold the weights and one sequence at the max context."""
    weights = weight_bytes(m, quantization)
    for tp in (t for t in TP_SIZES if t <= max_tp):
        budget = memory_mib * MiB * fraction - OVERHEAD_BYTES - weights / tp
        if budget <= 0:
            continue
        shards = 1 if m.mla else min(tp, m.kv_heads)
        kv_per_gpu_token = kv_bytes_per_token(m) / shards
        seq_per_gpu = sequence_kv_bytes(m, context) / shards
        if budget < seq_per_gpu:
            continue
        return Fit(
            profile, memory_mib, tp, int(budget // kv_per_gpu_token), int(budget // seq_per_gpu)
        )
    return Fit(profile, memory_mib, None, 0, 0)


@dataclass(frozen=True)
class Usage:
    """One GPU's memory at a tensor-parallel size, by what takes it (bytes)."""

    memory: int  # the device's
    reserved: int  # outside the engine's memory fraction
    overhead: int  # activations, CUDA graphs, the runtime
    weights: int  # this rank's share
    kv: int  # this rank's share of the KV cache of the wanted sequences

    @property
    def headroom(self) -> int:
        """What is left (negative: by how much it overflows)."""
        return self.memory - self.reserved - self.overhead - self.weights - self.kv


def usage(
    m: Model,
    memory_mib: int,
    *,
    fraction: float,
    context: int,
    concurrency: int,
    quantization: str | None = None,
    tp: int = 1,
) -> Usage:
    """What `concurrency` sequences of `context` tokens take of each GPU at tensor parallel `tp`."""
    memory = memory_mib * MiB
    shards = 1 if m.mla else min(tp, m.kv_heads)
    return Usage(
        memory,
        int(memory * (1 - fraction)),
        OVERHEAD_BYTES,
        weight_bytes(m, quantization) // tp,
        concurrency * sequence_kv_bytes(m, context) // shards,
    )


def max_devices(profile: Mapping[str, Any]) -> int:
    """Most devices of a profile one engine can use.

    One for a MIG slice (a CUDA process can use one MIG device only), else the largest
    tensor-parallel size.
    """
    return 1 if profile.get("mig") else TP_SIZES[-1]


def needed_gpus(
    m: Model,
    memory_mib: int,
    fraction: float,
    context: int,
    quantization: str | None,
    gpus: int,
    most: int = TP_SIZES[-1],
) -> str | None:
    """Why `gpus` devices of this size cannot serve the model (None when they can).

    `most` is the most devices of the kind one engine can use.
    """
    result = fit(
        m,
        "",
        memory_mib,
        fraction=fraction,
        context=context,
        quantization=quantization,
        max_tp=gpus,
    )
    if result.tensor_parallel:
        return None
    weights = weight_bytes(m, quantization) / GiB
    usable = gpus * (memory_mib * MiB * fraction - OVERHEAD_BYTES) / GiB
    smallest = fit(
        m,
        "",
        memory_mib,
        fraction=fraction,
        context=context,
        quantization=quantization,
        max_tp=most,
    )
    hint = (
        f"tensor parallel {smallest.tensor_parallel} fits"
        if smallest.tensor_parallel
        else f"no tensor-parallel size up to {most} fits"
    )
    return (
        f"{weights:.1f} GiB of weights plus the KV cache of one {context}-token sequence "
        f"do not fit {gpus} GPU(s) of {memory_mib} MiB at memory fraction {fraction} "
        f"({usable:.1f} GiB usable after {OVERHEAD_BYTES // GiB} GiB overhead each); {hint}"
    )


def report(
    m: Model,
    *,
    fraction: float,
    context: int | None,
    quantization: str | None,
    profiles: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Everything `corral size` prints, as plain data."""
    known = chart.gpu_profiles()
    unknown = sorted(set(profiles) - set(known))
    if unknown:
        raise ValuesError(
            f"--gpu: unknown profile {', '.join(unknown)}; use one of: {', '.join(sorted(known))}"
        )
    tokens = context or m.max_context
    per_layer, full, window = kv_layout(m)
    fits = [
        fit(
            m,
            name,
            int(p["memoryMiB"]),
            fraction=fraction,
            context=tokens,
            quantization=quantization,
            max_tp=max_devices(p),
        )
        for name, p in known.items()
        if p.get("memoryMiB") and (not profiles or name in profiles)
    ]
    return {
        "model": m.name,
        "parameters": sum(parameters(m).values()),
        "weightBytes": weight_bytes(m, quantization),
        "weightsFrom": "safetensors index" if m.index_bytes and not quantization else "estimate",
        "kvBytesPerToken": kv_bytes_per_token(m),
        "kvLayout": {
            "attention": "MLA" if m.mla else "GQA",
            "bytesPerLayer": per_layer,
            "fullLayers": full,
            "slidingLayers": m.layers - full,
            "slidingWindow": window,
        },
        "maxContext": tokens,
        "gpuMemoryFraction": fraction,
        "overheadBytesPerGpu": OVERHEAD_BYTES,
        "fits": [f.__dict__ for f in fits],
    }


def format_report(r: Mapping[str, Any]) -> str:
    """The report as a few lines and a table."""
    kv = r["kvLayout"]
    window = (
        f", {kv['slidingLayers']} sliding layers (window {kv['slidingWindow']})"
        if kv["slidingWindow"]
        else ""
    )
    lines = [
        f"model:    {r['model']}",
        f"weights:  {r['weightBytes'] / GiB:.2f} GiB "
        f"({r['parameters'] / 1e9:.2f} B parameters; {r['weightsFrom']})",
        f"kv cache: {r['kvBytesPerToken'] / 1024:.1f} KiB per token ({kv['attention']}{window})",
        f"budget:   memory fraction {r['gpuMemoryFraction']}, "
        f"{r['overheadBytesPerGpu'] // GiB} GiB overhead per GPU, "
        f"{r['maxContext']} tokens per sequence",
        "",
        f"{'profile':<14} {'tensor-parallel':>15} {'KV tokens':>12} {'max concurrency':>16}",
    ]
    for f in r["fits"]:
        tp = str(f["tensor_parallel"]) if f["tensor_parallel"] else "does not fit"
        lines.append(f"{f['profile']:<14} {tp:>15} {f['kv_tokens']:>12} {f['max_concurrency']:>16}")
    return "\n".join(lines)
