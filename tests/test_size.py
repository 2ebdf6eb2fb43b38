"""Sizing against figures worked out by hand from each fixture's config.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT
from corral import size
from corral.check import check

CONFIGS = ROOT / "tests" / "fixtures" / "configs"
H100 = 81559  # MiB, presets/gpus.yaml
GiB = 1024**3


def model(name: str) -> size.Model:
    return size.load_model(CONFIGS / name)


# Parameters by hand: layers * (q + k + v + o + mlp + 2 norms) + embeddings (+ untied head) + norm.
PARAMS = {
    # 32 * (4096*4096*2 + 2*4096*1024 + 3*4096*14336 + 2*4096) + 2*128256*4096 + 4096
    "llama-3.1-8b": 8_030_261_248,
    # 80 * (8192*8192*2 + 2*8192*1024 + 3*8192*28672 + 2*8192) + 2*128256*8192 + 8192
    "llama-3.1-70b": 70_553_706_496,
    # 32 * (attention 41_943_040 + 8 experts * 3*4096*14336 + router 4096*8 + 2*4096)
    #   + 2*32000*4096 + 4096
    "mixtral-8x7b": 46_702_792_704,
    # MLA q/kv low-rank projections, 3 dense + 58 MoE layers (256 routed + 1 shared expert of
    # 2048, router + correction bias), untied 129280-token embeddings: DeepSeek's published 671B.
    "deepseek-v3": 671_026_419_200,
    # 48 layers of 128 experts (768 wide), q/k norms of 128: Qwen's published 30.5B.
    "qwen3-30b-a3b-fp8": 30_532_122_624,
}


@pytest.mark.parametrize(("name", "count"), sorted(PARAMS.items()))
def test_parameter_counts(name: str, count: int) -> None:
    assert sum(size.parameters(model(name)).values()) == count


def test_weight_bytes_follow_dtype_and_quantization() -> None:
    assert size.weight_bytes(model("llama-3.1-8b")) == 8_030_261_248 * 2  # bfloat16
    assert size.weight_bytes(model("llama-3.1-8b"), "fp8") == (1_050_673_152 + 266_240) * 2 + (
        1_342_177_280 + 5_637_144_576
    )  # embeddings and norms stay bf16, attention and MLP at 1 byte
    fp8 = model("qwen3-30b-a3b-fp8")
    assert fp8.quantization == ("fp8", 1.0)
    p = size.parameters(fp8)
    assert size.weight_bytes(fp8) == (p["embedding"] + p["norm"]) * 2 + p["attention"] + p["mlp"]


def test_mxfp4_leaves_unconverted_attention_in_bf16() -> None:
    oss = model("gpt-oss-20b")
    p = size.parameters(oss)
    assert size.weight_bytes(oss) == int(
        (p["embedding"] + p["norm"] + p["attention"]) * 2 + p["mlp"] * 0.5
    )


def test_safetensors_index_wins_over_the_estimate(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text((CONFIGS / "llama-3.1-8b" / "config.json").read_text())
    index = {"metadata": {"total_size": 16_060_522_496 + 1024}, "weight_map": {}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    assert size.weight_bytes(size.load_model(tmp_path)) == 16_060_523_520
    assert size.weight_bytes(size.load_model(tmp_path), "fp8") < 16_060_522_496  # on-load quant


@pytest.mark.parametrize(
    ("name", "per_token"),
    [
        ("llama-3.1-8b", 2 * 32 * 8 * 128 * 2),  # K and V, layers, KV heads, head dim, bf16
        ("llama-3.1-70b", 2 * 80 * 8 * 128 * 2),
        ("mixtral-8x7b", 2 * 32 * 8 * 128 * 2),
        ("deepseek-v3", 61 * (512 + 64) * 2),  # MLA: latent + rope key per layer
        ("qwen3-30b-a3b-fp8", 2 * 48 * 4 * 128 * 2),
        ("qwen3-vl-8b-instruct", 2 * 36 * 8 * 128 * 2),  # from text_config
        ("gpt-oss-20b", 2 * 24 * 8 * 64 * 2),
    ],
)
def test_kv_bytes_per_token(name: str, per_token: int) -> None:
    assert size.kv_bytes_per_token(model(name)) == per_token


def test_sliding_window_caps_half_the_layers_of_gpt_oss() -> None:
    oss = model("gpt-oss-20b")
    assert size.kv_layout(oss) == (2048, 12, 128)
    # 12 full layers hold every token, 12 sliding layers at most 128.
    assert size.sequence_kv_bytes(oss, 131072) == 2048 * (12 * 131072 + 12 * 128)
    assert size.sequence_kv_bytes(oss, 100) == 2048 * 24 * 100


def test_nested_text_config_is_read() -> None:
    vl = model("qwen3-vl-8b-instruct")
    assert (vl.hidden, vl.layers, vl.kv_heads, vl.head_dim) == (4096, 36, 8, 128)
    assert vl.max_context == 262144


def test_fit_70b_on_h100_by_hand() -> None:
    # Budget per GPU: 81559 MiB * 0.9 - 2 GiB overhead = 74_821_245_337.6 bytes, minus weights / tp.
    seventy = model("llama-3.1-70b")
    short = size.fit(seventy, "h100-80gb", H100, fraction=0.9, context=8192)
    # tp 1 cannot hold 141.1 GB; tp 2 leaves 4_267_538_841.6 B; KV heads split 2 ways:
    # 163_840 B/token.
    assert (short.tensor_parallel, short.kv_tokens, short.max_concurrency) == (2, 26_046, 3)
    long = size.fit(seventy, "h100-80gb", H100, fraction=0.9, context=131072)
    # A 131072-token sequence needs 21.5 GB per GPU at tp 2;
    # tp 4 leaves 39_544_392_089.6 B / 81_920.
    assert (long.tensor_parallel, long.kv_tokens, long.max_concurrency) == (4, 482_719, 3)


def test_mla_cache_is_not_split_across_ranks() -> None:
    deepseek = size.fit(model("deepseek-v3"), "h200-141gb", 143771, fraction=0.9, context=32768)
    # 672.9 GB of FP8 weights need all 8 H200s; each rank keeps the whole 70_272-byte latent.
    assert deepseek.tensor_parallel == 8
    budget = 143771 * 1024**2 * 0.9 - 2 * GiB - size.weight_bytes(model("deepseek-v3")) / 8
    assert deepseek.kv_tokens == int(budget // 70_272)


def test_report_and_the_fit_check_name_the_numbers(tmp_path: Path) -> None:
    report = size.report(
        model("llama-3.1-8b"), fraction=0.9, context=None, quantization=None, profiles=("l4-24gb",)
    )
    assert report["maxContext"] == 131072
    assert [f["tensor_parallel"] for f in report["fits"]] == [2]
    values = {
        "modelGroups": {
            "llama": {
                "model": "hf://meta-llama/Llama-3.1-70B",
                "gpus": {"count": 2, "type": "l4-24gb"},
                "parallelism": {"tensor": 2},
            }
        }
    }
    configs = {"llama": CONFIGS / "llama-3.1-70b"}
    (line,) = check(values, configs=configs)
    assert line.startswith(
        "modelGroups.llama.gpus: llama-3.1-70b: 131.4 GiB of "
        "weights plus the KV cache of one 131072-token sequence do not fit 2 GPU(s)"
    )
    assert line.endswith("no tensor-parallel size up to 8 fits")
    fits = {
        "modelGroups": {
            "llama": {
                **values["modelGroups"]["llama"],
                "gpus": {"count": 4, "type": "h100-80gb"},
                "parallelism": {"tensor": 4},
            }
        }
    }
    assert check(fits, configs=configs) == []


def test_a_mig_slice_is_sized_by_its_memory_at_tensor_parallel_one() -> None:
    eight = model("llama-3.1-8b")
    report = size.report(
        eight,
        fraction=0.9,
        context=8192,
        quantization=None,
        profiles=("h100-40gb-mig", "h100-20gb-mig"),
    )
    fits = {f["profile"]: f for f in report["fits"]}
    # 40448 MiB * 0.9 - 2 GiB - 16_060_522_496 B of bf16 weights, at 131_072 B a token.
    budget = 40448 * 1024**2 * 0.9 - 2 * GiB - size.weight_bytes(eight)
    assert fits["h100-40gb-mig"]["memory_mib"] == 40448
    assert fits["h100-40gb-mig"]["tensor_parallel"] == 1
    assert fits["h100-40gb-mig"]["kv_tokens"] == int(budget // 131_072)
    # 20096 MiB leaves 756_958_822 B, less than one 8192-token sequence (1_073_741_824 B). Two
    # whole GPUs of that size would hold it at tensor parallel 2; a slice is one device.
    assert fits["h100-20gb-mig"]["tensor_parallel"] is None
    whole = size.fit(eight, "whole", 20096, fraction=0.9, context=8192)
    assert whole.tensor_parallel == 2


def test_the_fit_check_sizes_a_mig_slice_as_one_device() -> None:
    configs = {"llama": CONFIGS / "llama-3.1-8b"}

    def on(profile: str) -> list[str]:
        group = {
            "model": "hf://meta-llama/Llama-3.1-8B",
            "gpus": {"count": 1, "type": profile},
            "settings": {"maxContextLength": 8192},
        }
        return check({"modelGroups": {"llama": group}}, configs=configs)

    assert on("h100-40gb-mig") == []
    (line,) = on("h100-20gb-mig")
    assert line.startswith(
        "modelGroups.llama.gpus: llama-3.1-8b: 15.0 GiB of weights plus the KV cache of one "
        "8192-token sequence do not fit 1 GPU(s) of 20096 MiB at memory fraction 0.9"
    ), line
    assert line.endswith("no tensor-parallel size up to 1 fits"), line
