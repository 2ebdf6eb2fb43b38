"""Plan a new model group from its model's config.json: GPUs, tensor parallelism and context.

`corral new --config` uses it with the sizing of `corral size`. Without a wanted context, the
plan takes the fewest GPUs of the profile (the smallest tensor-parallel size that divides the
attention heads) whose memory, after the weights and the per-GPU overhead, holds `concurrency`
sequences of MIN_CONTEXT tokens, then the largest context those sequences can have there, up
to the model's own maximum (rounded down to a multiple of 1024). With a wanted context, the
fewest GPUs that hold `concurrency` sequences of exactly that many tokens.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral import size
from corral.errors import ValuesError

MIN_CONTEXT = 8192
DEFAULT_CONCURRENCY = 16
ROUND_TO = 1024


@dataclass(frozen=True)
class Plan:
    """GPUs and settings for one group, and the sizing behind them."""

    profile: str
    memory_mib: int
    tensor_parallel: int
    context: int
    concurrency: int
    fraction: float
    weight_bytes: int
    kv_budget_bytes: int  # per GPU, after weights and overhead
    kv_tokens: int
    model_max: int

    def why(self, model: size.Model, source: Path) -> str:
        """The reasoning as YAML comment lines, for the group in the values file."""
        text = (
            f"Sized by `corral new` from {source} for {self.profile} ({self.memory_mib} MiB, "
            f"memory fraction {self.fraction}, {size.OVERHEAD_BYTES // size.GiB} GiB overhead per "
            f"GPU): {self.weight_bytes / size.GiB:.2f} GiB of weights and "
            f"{size.kv_bytes_per_token(model) / 1024:.1f} KiB of KV cache per token; tensor "
            f"parallel {self.tensor_parallel} leaves {self.kv_budget_bytes / size.GiB:.2f} GiB "
            f"per GPU for {self.kv_tokens} KV tokens: {self.concurrency} concurrent sequences of "
            f"{self.context} tokens (model maximum {self.model_max})."
        )
        return textwrap.fill(text, width=94)


def plan(
    m: size.Model,
    profiles: Mapping[str, Mapping[str, Any]],
    profile: str,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    context: int | None = None,
    fraction: float = size.DEFAULT_FRACTION,
    quantization: str | None = None,
    tensor: int | None = None,
) -> Plan:
    """The plan on the fewest GPUs of `profile` that fit (exactly `tensor` when given).

    ValuesError, naming the flag, when none fits; it names a profile that would.
    """
    flag = f"--gpus {tensor}" if tensor else f"--gpu {profile}"
    memory = int(profiles[profile].get("memoryMiB") or 0)
    if memory <= 0:
        raise ValuesError(f"--gpu {profile}: the profile has no GPU memory to size a model for")
    if tensor and m.heads % tensor:
        raise ValuesError(
            f"{flag}: tensor parallel {tensor} does not divide {m.name}'s {m.heads} attention heads"
        )
    if context and context > m.max_context:
        raise ValuesError(
            f"--max-context {context}: more than {m.name}'s own maximum of {m.max_context} tokens"
        )
    most = size.max_devices(profiles[profile])
    if tensor and tensor > most:
        raise ValuesError(
            f"{flag}: {profile} is a MIG slice, one device per engine (a CUDA process can use "
            "one MIG device only); use --gpus 1 or a whole-GPU --gpu"
        )
    divisors = [tensor] if tensor else [t for t in size.TP_SIZES if m.heads % t == 0]
    sizes = _within(divisors, profiles[profile])
    wanted = (concurrency, context, fraction, quantization)
    chosen = _fit(m, profile, memory, sizes, *wanted)
    if chosen:
        return chosen
    weights = size.weight_bytes(m, quantization) / size.GiB
    usable = (memory * size.MiB * fraction - size.OVERHEAD_BYTES) / size.GiB
    larger = sorted(
        (mib, name)
        for name, p in profiles.items()
        if (mib := int(p.get("memoryMiB") or 0)) > memory
    )
    other = next(
        (
            fit
            for mib, name in larger
            if (fit := _fit(m, name, mib, _within(divisors, profiles[name]), *wanted))
        ),
        None,
    )
    hint = f" ({other.profile} fits at tensor parallel {other.tensor_parallel})" if other else ""
    tps = ", ".join(map(str, sizes[:-1])) + (" or " if len(sizes) > 1 else "") + str(sizes[-1])
    raise ValuesError(
        f"{flag}: {m.name} does not fit at tensor parallel {tps}: {weights:.1f} GiB of weights "
        f"and {concurrency} sequences of {min(context or MIN_CONTEXT, m.max_context)} tokens "
        f"exceed {usable:.1f} GiB usable per GPU (memory fraction {fraction}); lower "
        f"--concurrency or --max-context, add --quantization, or pick a larger --gpu{hint}"
    )


def _fit(
    m: size.Model,
    profile: str,
    memory_mib: int,
    sizes: list[int],
    concurrency: int,
    context: int | None,
    fraction: float,
    quantization: str | None,
) -> Plan | None:
    """The plan at the first of these tensor-parallel sizes that fits, else None."""
    floor = min(context or MIN_CONTEXT, m.max_context)
    weights = size.weight_bytes(m, quantization)
    for tp in sizes:
        budget = int(memory_mib * size.MiB * fraction - size.OVERHEAD_BYTES - weights / tp)
        shards = 1 if m.mla else min(tp, m.kv_heads)
        if concurrency * size.sequence_kv_bytes(m, floor) / shards > budget:
            continue
        per_sequence = budget * shards // concurrency
        tokens = context or _largest_context(m, per_sequence, floor, m.max_context)
        kv_tokens = int(budget // (size.kv_bytes_per_token(m) / shards))
        return Plan(
            profile,
            memory_mib,
            tp,
            tokens,
            concurrency,
            fraction,
            weights,
            budget,
            kv_tokens,
            m.max_context,
        )
    return None


def _within(sizes: list[int], profile: Mapping[str, Any]) -> list[int]:
    """The tensor-parallel sizes one engine can use on this profile."""
    return [t for t in sizes if t <= size.max_devices(profile)]


def _largest_context(m: size.Model, per_sequence: int, floor: int, ceiling: int) -> int:
    """The most tokens whose KV cache fits `per_sequence` bytes, in [floor, ceiling]."""
    low, high = floor, ceiling
    while low < high:
        mid = (low + high + 1) // 2
        if size.sequence_kv_bytes(m, mid) <= per_sequence:
            low = mid
        else:
            high = mid - 1
    return low if low == ceiling else max(floor, low // ROUND_TO * ROUND_TO)
