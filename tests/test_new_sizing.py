"""`corral new --config`: GPUs, tensor parallelism and context from the model's own config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import corral
from corral import chart, plan, size

CONFIGS = Path(__file__).resolve().parent / "fixtures" / "configs"
MiB, GiB = 1024**2, 1024**3
H100 = 81559  # MiB, presets/gpus.yaml


def budget(memory_mib: int, weights: int, tp: int, fraction: float = 0.9) -> int:
    """KV bytes per GPU: the memory fraction, less 2 GiB overhead and this GPU's weight shard."""
    return int(memory_mib * MiB * fraction - 2 * GiB - weights / tp)


def new(*args: str) -> tuple[int, str, str]:
    done = corral("new", *args)
    return done.returncode, done.stdout, done.stderr


def test_an_8b_model_gets_one_gpu_and_the_context_sixteen_sequences_can_have() -> None:
    code, out, err = new(
        "--model",
        "hf://meta-llama/Llama-3.1-8B-Instruct",
        "--config",
        str(CONFIGS / "llama-3.1-8b"),
        "--gpu",
        "h100-80gb",
    )
    assert code == 0, err
    # 8_030_261_248 bf16 parameters; 32 layers x 8 KV heads x 128 x K and V x 2 bytes a token.
    per_gpu = budget(H100, 8_030_261_248 * 2, 1)
    context = per_gpu // 16 // (32 * 8 * 128 * 2 * 2) // 1024 * 1024
    assert context == 27648
    group = yaml.safe_load(out)["modelGroups"]["llama-3-1-8b-instruct"]
    assert group == {
        "engine": "vllm",
        "model": "hf://meta-llama/Llama-3.1-8B-Instruct",
        "gpus": {"count": 1, "type": "h100-80gb"},
        "settings": {"maxContextLength": 27648, "gpuMemoryFraction": 0.9},
    }
    why = out.split("  llama-3-1-8b-instruct:")[0].splitlines()[1:]
    assert all(line.startswith("  # ") for line in why), out
    said = " ".join(line.removeprefix("  # ") for line in why)
    assert said == (
        f"Sized by `corral new` from {CONFIGS / 'llama-3.1-8b'} for h100-80gb (81559 MiB, memory "
        "fraction 0.9, 2 GiB overhead per GPU): 14.96 GiB of weights and 128.0 KiB of KV cache "
        f"per token; tensor parallel 1 leaves {per_gpu / GiB:.2f} GiB per GPU for 448308 KV "
        "tokens: 16 concurrent sequences of 27648 tokens (model maximum 131072)."
    )


def test_a_70b_model_takes_the_fewest_gpus_that_hold_sixteen_8k_sequences() -> None:
    code, out, err = new(
        "--model",
        "hf://o/llama-70b",
        "--config",
        str(CONFIGS / "llama-3.1-70b"),
        "--gpu",
        "h100-80gb",
    )
    assert code == 0, err
    weights, per_token = 70_553_706_496 * 2, 80 * 8 * 128 * 2 * 2
    # On 2 GPUs each holds half the KV heads of 16 sequences of 8192 tokens: too much.
    assert 16 * 8192 * per_token / 2 > budget(H100, weights, 2)
    group = yaml.safe_load(out)["modelGroups"]["llama-70b"]
    assert group["gpus"] == {"count": 4, "type": "h100-80gb"}
    assert group["parallelism"] == {"tensor": 4}
    context = budget(H100, weights, 4) * 4 // 16 // per_token // 1024 * 1024
    assert group["settings"]["maxContextLength"] == context == 29696


def test_a_wanted_context_takes_as_many_gpus_as_it_needs() -> None:
    code, out, err = new(
        "--model",
        "hf://o/m",
        "--config",
        str(CONFIGS / "llama-3.1-8b" / "config.json"),
        "--gpu",
        "h100-80gb",
        "--max-context",
        "131072",
        "--concurrency",
        "8",
    )
    assert code == 0, err
    group = yaml.safe_load(out)["modelGroups"]["m"]
    # Eight sequences of 131072 tokens at 128 KiB a token, over 2 GPUs: more than each holds.
    assert budget(H100, 8_030_261_248 * 2, 2) < 8 * 131072 * 131072 / 2
    assert budget(H100, 8_030_261_248 * 2, 4) >= 8 * 131072 * 131072 / 4
    assert (group["gpus"]["count"], group["settings"]["maxContextLength"]) == (4, 131072)


@pytest.mark.parametrize("config", sorted(p.name for p in CONFIGS.iterdir() if p.is_dir()))
@pytest.mark.parametrize("profile", ["h100-80gb", "l4-24gb"])
def test_the_plan_is_the_smallest_fit_and_the_largest_context(config: str, profile: str) -> None:
    """Against the sizing of `corral size`, for every fixture model (GQA, MLA, MoE, sliding)."""
    m = size.load_model(CONFIGS / config)
    memory = int(chart.gpu_profiles()[profile]["memoryMiB"])
    weights = size.weight_bytes(m)

    def holds(tp: int, tokens: int) -> bool:
        shards = 1 if m.mla else min(tp, m.kv_heads)
        return 16 * size.sequence_kv_bytes(m, tokens) / shards <= budget(memory, weights, tp)

    fitting = [tp for tp in (1, 2, 4, 8) if m.heads % tp == 0 and holds(tp, 8192)]
    if not fitting:
        with pytest.raises(Exception, match=f"--gpu {profile}: .* does not fit"):
            plan.plan(m, chart.gpu_profiles(), profile)
        return
    chosen = plan.plan(m, chart.gpu_profiles(), profile)
    assert chosen.tensor_parallel == fitting[0]
    assert holds(chosen.tensor_parallel, chosen.context)
    assert chosen.context == m.max_context or (
        chosen.context % 1024 == 0 and not holds(chosen.tensor_parallel, chosen.context + 1024)
    )


def test_sglang_gets_the_settings_as_its_own_flags() -> None:
    code, out, err = new(
        "--engine",
        "sglang",
        "--model",
        "hf://o/qwen3",
        "--config",
        str(CONFIGS / "qwen3-30b-a3b-fp8"),
        "--gpu",
        "l4-24gb",
        "--fraction",
        "0.85",
    )
    assert code == 0, err
    group = yaml.safe_load(out)["modelGroups"]["qwen3"]
    assert group["parallelism"] == {"tensor": 4}
    assert group["settings"]["gpuMemoryFraction"] == 0.85


def test_adding_to_a_file_keeps_its_comments_and_says_why(tmp_path: Path) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        "# Our stack.\nmodelGroups:\n  # The chat model.\n  chat: {model: hf://o/chat}\n"
    )
    for name, config in (("small", "llama-3.1-8b"), ("moe", "mixtral-8x7b")):
        args = ["--model", f"hf://o/{name}", "--config", str(CONFIGS / config)]
        code, out, err = new(*args, "--gpu", "h100-80gb", "-f", str(stack))
        assert (code, err) == (0, ""), err
        assert out == f"{stack}: modelGroups.{name} (vllm, hf://o/{name})\n"
    text = stack.read_text()
    assert text.startswith(
        "# Our stack.\nmodelGroups:\n  # The chat model.\n  chat: {model: hf://o/chat}\n"
    )
    assert text.count("# Sized by `corral new`") == 2
    assert list(yaml.safe_load(text)["modelGroups"]) == ["chat", "small", "moe"]
    assert corral("check", str(stack)).returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--config", "deepseek-v3", "--gpu", "h100-80gb"],
            "--gpu h100-80gb: deepseek-v3 does not fit at tensor parallel 1, 2, 4 or 8: 626.7 GiB of "
            "weights and 16 sequences of 8192 tokens exceed 69.7 GiB usable per GPU (memory "
            "fraction 0.9); lower --concurrency or --max-context, add --quantization, or pick a "
            "larger --gpu (h200-141gb fits at tensor parallel 8)",
        ),
        (
            ["--config", "llama-3.1-70b", "--gpu", "h100-80gb", "--gpus", "2"],
            "--gpus 2: llama-3.1-70b does not fit at tensor parallel 2: 131.4 GiB of weights and 16 "
            "sequences of 8192 tokens exceed 69.7 GiB usable per GPU (memory fraction 0.9); lower "
            "--concurrency or --max-context, add --quantization, or pick a larger --gpu "
            "(h200-141gb fits at tensor parallel 2)",
        ),
        (
            ["--config", "llama-3.1-8b", "--gpu", "h100-20gb-mig", "--gpus", "2"],
            "--gpus 2: h100-20gb-mig is a MIG slice, one device per engine (a CUDA process can use "
            "one MIG device only); use --gpus 1 or a whole-GPU --gpu",
        ),
        (
            ["--config", "llama-3.1-8b", "--gpu", "h100-10gb-mig"],
            "--gpu h100-10gb-mig: llama-3.1-8b does not fit at tensor parallel 1: 15.0 GiB of "
            "weights and 16 sequences of 8192 tokens exceed 6.8 GiB usable per GPU (memory "
            "fraction 0.9); lower --concurrency or --max-context, add --quantization, or pick a "
            "larger --gpu (t4-16gb fits at tensor parallel 4)",
        ),
        (
            ["--config", "llama-3.1-8b", "--gpu", "h100-80gb", "--gpus", "3"],
            "--gpus 3: tensor parallel 3 does not divide llama-3.1-8b's 32 attention heads",
        ),
        (
            ["--config", "mixtral-8x7b", "--gpu", "h100-80gb", "--max-context", "65536"],
            "--max-context 65536: more than mixtral-8x7b's own maximum of 32768 tokens",
        ),
        (
            ["--config", "llama-3.1-8b", "--gpu", "cpu"],
            "--gpu cpu: the profile has no GPU memory to size a model for",
        ),
        (
            ["--config", "llama-3.1-8b", "--gpu", "h100"],
            "--gpu: unknown profile h100; use one of: a100-40gb, a100-40gb-mig, a100-80gb, "
            "a10g-24gb, b200-192gb, cpu, h100-10gb-mig, h100-20gb-mig, h100-40gb-mig, h100-80gb, "
            "h100-nvl-94gb, h200-141gb, l4-24gb, l40s-48gb, none, t4-16gb",
        ),
        (["--config", "llama-3.1-8b"], "--config needs --gpu, the profile to size for"),
        (
            ["--gpu", "h100-80gb", "--concurrency", "4"],
            "--concurrency sizes the group; give --config too",
        ),
    ],
    ids=[
        "too-big",
        "too-few-gpus",
        "mig-gpus",
        "mig-too-small",
        "heads",
        "context",
        "cpu",
        "unknown-gpu",
        "no-gpu",
        "no-config",
    ],
)
def test_refusals_are_one_line_and_write_nothing(
    args: list[str], message: str, tmp_path: Path
) -> None:
    if args[0] == "--config":
        args[1] = str(CONFIGS / args[1])
    target = tmp_path / "stack.yaml"
    code, out, err = new("--model", "hf://o/m", *args, "-f", str(target))
    assert (code, out, err) == (2, "", f"corral: error: {message}\n")
    assert not target.exists()
