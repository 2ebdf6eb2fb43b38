"""extraArgs against the engines' flag catalogs (generated from their own argument parsers)."""

from __future__ import annotations

from typing import Any

import pytest

from corral.check import check
from corral.flags import CATALOG_DIR, catalog, help_lines, known_flags


def group(engine: str, *args: str, **extra: Any) -> dict[str, Any]:
    return {
        "modelGroups": {
            "g": {"engine": engine, "model": "hf://o/m", "extraArgs": list(args), **extra}
        }
    }


@pytest.mark.parametrize(
    ("name", "flag_count", "sample"),
    [
        ("vllm-0.33.0", 320, "--max-num-seqs"),
        ("sglang-0.5.23", 531, "--chunked-prefill-size"),
        ("tgi-3.3.6", 54, "--max-batch-prefill-tokens"),
        ("trtllm-main-00209af", 32, "--max_batch_size"),
    ],
)
def test_catalogs_are_versioned_and_complete(name: str, flag_count: int, sample: str) -> None:
    data = catalog(name)
    assert f"{data['engine']}-{data['version']}" == name
    assert data["flag_count"] == len(data["flags"]) == flag_count
    assert sample in known_flags(name)


@pytest.mark.parametrize("name", sorted(p.stem for p in (CATALOG_DIR / "help").glob("*.yaml")))
def test_a_help_file_has_one_line_for_each_catalog_flag_and_no_other(name: str) -> None:
    helps = help_lines(name)
    assert list(helps) == [f["name"] for f in catalog(name)["flags"]]  # catalog order, none extra
    too_long = {flag: len(line) for flag, line in helps.items() if not 0 < len(line) <= 160}
    assert too_long == {}
    assert {flag for flag, line in helps.items() if line != line.strip() or "\n" in line} == set()


def test_negatable_booleans_have_their_no_form() -> None:
    assert {"--enable-prefix-caching", "--no-enable-prefix-caching"} <= known_flags("vllm-0.33.0")


@pytest.mark.parametrize(
    ("engine", "arg", "line"),
    [
        (
            "vllm",
            "--max-model-length=4096",
            'modelGroups.g.extraArgs[0]: unknown vllm 0.33.0 flag "--max-model-length"; '
            'did you mean "--max-model-len"?',
        ),
        (
            "sglang",
            "--chunked-prefil-size=4096",
            'modelGroups.g.extraArgs[0]: unknown sglang 0.5.23 flag "--chunked-prefil-size"; '
            'did you mean "--chunked-prefill-size"?',
        ),
        (
            "tgi",
            "--num-shards=2",
            'modelGroups.g.extraArgs[0]: unknown tgi 3.3.6 flag "--num-shards"; did you mean "--num-shard"?',
        ),
        (
            "trtllm",
            "--tp-size=2",
            'modelGroups.g.extraArgs[0]: unknown trtllm main-00209af flag "--tp-size"; did you mean "--tp_size"?',
        ),
        (
            "vllm",
            "--port=9000",
            'modelGroups.g.extraArgs[0]: "--port" is set by the chart; use modelGroups.g.port',
        ),
        (
            "vllm",
            "--served-model-name",
            'modelGroups.g.extraArgs[0]: "--served-model-name" is set by the chart; use modelGroups.g.servedName',
        ),
        (
            "sglang",
            "--tp=2",
            'modelGroups.g.extraArgs[0]: "--tp" (--tp-size) is set by the chart; use modelGroups.g.parallelism.tensor',
        ),
        (
            "tgi",
            "--hostname=::",
            'modelGroups.g.extraArgs[0]: "--hostname" is set by the chart; use (always 0.0.0.0 in a pod)',
        ),
    ],
)
def test_bad_flags_are_named_with_a_fix(engine: str, arg: str, line: str) -> None:
    assert check(group(engine, arg)) == [line]


def test_settings_flags_clash_only_when_the_setting_is_set() -> None:
    assert check(group("vllm", "--max-model-len=8192")) == []
    clash = group("vllm", "--max-model-len=8192", settings={"maxContextLength": 4096})
    assert check(clash) == [
        'modelGroups.g.extraArgs[0]: "--max-model-len" is set by the chart; '
        "use modelGroups.g.settings.maxContextLength"
    ]


def test_good_flags_values_and_env_references_pass() -> None:
    assert (
        check(
            group(
                "vllm",
                "--max-num-seqs=128",
                "--no-enable-chunked-prefill",
                "--enforce-eager",
                "--kv-cache-dtype",
                "fp8",
                "$(EXTRA)",
            )
        )
        == []
    )
    custom = {
        "modelGroups": {
            "c": {
                "engine": "custom",
                "model": "/m",
                "image": {"repository": "r", "tag": "1"},
                "command": ["s"],
                "port": 80,
                "gpus": {"count": 0},
                "cache": {"type": "none"},
                "extraArgs": ["--anything-goes"],
            }
        }
    }
    assert check(custom) == []
