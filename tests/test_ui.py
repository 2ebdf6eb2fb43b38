"""`corral ui`'s server side: the form becomes values, and every verdict is the library's own."""

from __future__ import annotations

import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient

from conftest import ROOT
from corral import fit, size
from corral.check import check, coalesce
from corral.errors import ValuesError
from corral.flags import help_lines
from corral.groups import enabled
from corral.ui.app import create_app
from corral.ui.catalog import load_catalog
from corral.ui.form import Form, Workbench, slot
from readme import shell

CATALOG = ROOT / "tests" / "fixtures" / "ui-catalog.yaml"
QWEN = "Qwen3 30B-A3B FP8"
QWEN_CONFIG = ROOT / "tests" / "fixtures" / "configs" / "qwen3-30b-a3b-fp8" / "config.json"
GROUP = "qwen3-30b-a3b-fp8"


def client(current: tuple[Path, ...] = ()) -> FlaskClient:
    return create_app(Workbench(current, load_catalog(CATALOG))).test_client()


def evaluate(web: FlaskClient, **form: Any) -> dict[str, Any]:
    answer = web.post(
        "/api/evaluate", json={"catalog": QWEN, "model": "hf://Qwen/Qwen3-30B-A3B-FP8", **form}
    )
    assert answer.status_code == 200, answer.json
    data: dict[str, Any] = answer.json  # type: ignore[assignment]
    return data


def test_the_l4_verdict_is_the_fit_checks_line_next_to_the_gpu_field() -> None:
    result = evaluate(client(), gpu_type="l4-24gb", settings={"maxContextLength": "8192"})
    values = yaml.safe_load(result["yaml"])
    assert values == {
        "modelGroups": {
            GROUP: {
                "engine": "vllm",
                "model": "hf://Qwen/Qwen3-30B-A3B-FP8",
                "gpus": {"count": 1, "type": "l4-24gb"},
                "settings": {"maxContextLength": 8192},
            }
        }
    }
    expected = check(values, configs={GROUP: QWEN_CONFIG})
    assert expected == [
        f"modelGroups.{GROUP}.gpus: {GROUP}: 29.0 GiB of weights plus the KV cache of one "
        "8192-token sequence do not fit 1 GPU(s) of 23034 MiB at memory fraction 0.9 (18.2 GiB "
        "usable after 2 GiB overhead each); tensor parallel 2 fits"
    ]
    assert result["problems"] == [{"slot": "gpus", "message": expected[0]}]
    rows = {row["profile"]: row for row in result["profiles"]}
    l4 = rows["l4-24gb"]
    assert (l4["chosen"], l4["fits"]) == (True, False)
    assert l4["reason"] == expected[0].split(f"{GROUP}: ", 2)[-1]
    assert (rows["h100-80gb"]["fits"], rows["h100-80gb"]["reason"]) == (True, "")
    assert "cpu" not in rows  # no memory to size against


def test_the_bars_are_sizes_own_figures() -> None:
    result = evaluate(
        client(),
        gpu_type="h100-80gb",
        concurrency="4",
        settings={"maxContextLength": "8192", "gpuMemoryFraction": "0.8"},
    )
    assert result["problems"] == []
    h100 = next(row for row in result["profiles"] if row["profile"] == "h100-80gb")
    model = size.load_model(QWEN_CONFIG)
    use = size.usage(model, 81559, fraction=0.8, context=8192, concurrency=4)
    assert {
        k: h100[k] for k in ("memory", "reserved", "overhead", "weights", "kv", "headroom")
    } == {
        "memory": 81559 * 2**20,
        "reserved": use.reserved,
        "overhead": 2 * 2**30,
        "weights": size.weight_bytes(model),
        "kv": 4 * 8192 * 98304,
        "headroom": use.headroom,
    }
    assert use.headroom == use.memory - use.reserved - use.overhead - use.weights - use.kv
    assert (h100["fits"], h100["holds"], h100["concurrency"]) == (True, 43, 4)
    full = coalesce(yaml.safe_load(result["yaml"]))
    group = enabled(full)[0]
    assert fit.reason(model, group.values, group.profiles["h100-80gb"]) is None
    assert result["model"] == {
        "name": GROUP,
        "parameters": 30_532_122_624,
        "weights": [
            {"label": "checkpoint (fp8)", "bytes": size.weight_bytes(model)},
            {"label": "fp8 (8-bit)", "bytes": size.weight_bytes(model, "fp8")},
            {"label": "awq / gptq (4-bit)", "bytes": size.weight_bytes(model, "awq")},
        ],
        "weightsFrom": "estimate",
        "kvBytesPerToken": 98304,
        "attention": "GQA",
        "maxContext": 40960,
        "context": 8192,
    }


def test_bad_values_get_the_schemas_line_in_their_own_slot() -> None:
    result = evaluate(
        client(), gpu_type="h100-80gb", gpus="two", settings={"gpuMemoryFraction": "1.5"}
    )
    assert result["problems"] == [
        {
            "slot": "gpus.count",
            "message": f"modelGroups.{GROUP}.gpus.count: 'two' is not of type 'integer'",
        },
        {
            "slot": "settings.gpuMemoryFraction",
            "message": f"modelGroups.{GROUP}.settings.gpuMemoryFraction: 1.5 is greater than the maximum of 1",
        },
    ]
    assert (result["model"], result["profiles"]) == (None, [])  # nothing to size until they parse


def test_unknown_flags_are_refused_as_corral_check_refuses_them() -> None:
    result = evaluate(
        client(),
        gpu_type="h100-80gb",
        extra_args=["--enable-chunked-prefill", " --max-num-seq=8 ", ""],
    )
    assert yaml.safe_load(result["yaml"])["modelGroups"][GROUP]["extraArgs"] == [
        "--enable-chunked-prefill",
        "--max-num-seq=8",
    ]
    assert result["problems"] == [
        {
            "slot": "extraArgs",
            "message": f'modelGroups.{GROUP}.extraArgs[1]: unknown vllm 0.33.0 flag "--max-num-seq"; did you mean "--max-num-seqs"?',
        }
    ]


def test_a_pasted_config_is_sized_like_a_catalog_one() -> None:
    config = yaml.safe_load(QWEN_CONFIG.read_text())
    pasted = (
        client()
        .post(
            "/api/evaluate",
            json={"model": "hf://Qwen/Qwen3-30B-A3B-FP8", "gpu_type": "l4-24gb", "config": config},
        )
        .json
    )
    assert pasted is not None
    assert [p["slot"] for p in pasted["problems"]] == ["gpus"]
    assert pasted["model"]["parameters"] == 30_532_122_624
    wrong = client().post(
        "/api/evaluate", json={"model": "hf://a/b", "config": ["not", "a", "map"]}
    )
    assert (wrong.status_code, wrong.json) == (
        400,
        {"error": "config.json: must hold a JSON object"},
    )
    unknown = client().post("/api/evaluate", json={"catalog": "Nope"})
    assert (unknown.status_code, unknown.json) == (400, {"error": "catalog: no model named 'Nope'"})
    field = client().post("/api/evaluate", json={"colour": "red"})
    assert (field.status_code, field.json) == (400, {"error": "form: unknown field colour"})


def test_over_current_values_the_diff_says_what_restarts(tmp_path: Path) -> None:
    current = ROOT / "examples" / "single-vllm.yaml"
    web = client((current,))
    added = web.post("/api/evaluate", json={"model": "hf://o/small", "gpu_type": "h100-80gb"}).json
    assert added is not None
    assert added["problems"] == []
    text = added["yaml"]
    assert text.startswith("# One model on vLLM")  # the current file's comments are kept
    assert sorted(yaml.safe_load(text)["modelGroups"]) == ["llama-8b", "small"]
    assert added["diff"] == {
        "groups": [
            {"group": "llama-8b", "impact": "unchanged", "details": []},
            {"group": "small", "impact": "added", "details": []},
        ],
        "other": added["diff"]["other"],
    }
    edited = web.post(
        "/api/evaluate",
        json={
            "name": "llama-8b",
            "model": "hf://meta-llama/Llama-3.1-8B-Instruct",
            "gpu_type": "h100-80gb",
            "settings": {"maxContextLength": "16384"},
        },
    ).json
    assert edited is not None
    assert edited["problems"] == []
    assert edited["diff"]["groups"][0]["group"] == "llama-8b"
    assert edited["diff"]["groups"][0]["impact"] == "restart"
    (tmp_path / "v.yaml").write_text(edited["yaml"])
    assert check(yaml.safe_load(edited["yaml"])) == []


def test_the_page_lists_settings_with_the_schemas_words_and_a_trade_off() -> None:
    page = client().get("/").get_data(as_text=True)
    assert "Share of GPU memory the engine may use." in page  # values.schema.json's description
    assert "Higher leaves more memory for KV cache" in page  # ui/tradeoffs.yaml
    assert '<option value="Qwen3 30B-A3B FP8">' in page
    assert '<option value="l4-24gb">l4-24gb (23034 MiB)</option>' in page
    assert '<option value="cpu">' not in page
    for asset in ("/static/ui.js", "/static/ui.css"):
        assert asset in page
        assert client().get(asset).status_code == 200
    assert "http://" not in page.replace("http://www.w3.org", "")
    assert "https://" not in page


def test_the_flag_catalog_endpoint_serves_the_engines_catalog() -> None:
    vllm = client().get("/api/flags/vllm").json
    assert vllm is not None
    assert vllm["version"] == "vllm 0.33.0"
    assert {
        "name": "--max-num-seqs",
        "aliases": [],
        "type": "int",
        "choices": None,
        "negatable": False,
        "deprecated": False,
        "help": help_lines("vllm-0.33.0").get("--max-num-seqs", ""),
    } in vllm["flags"]
    sglang = client().get("/api/flags/sglang").json
    assert sglang is not None
    helps = {f["name"]: f["help"] for f in sglang["flags"]}
    assert helps == help_lines("sglang-0.5.23")
    assert helps["--chunked-prefill-size"].startswith(
        "Largest number of tokens processed per prefill"
    )
    assert len(vllm["flags"]) == 320
    assert client().get("/api/flags/custom").json == {"version": "", "flags": []}


def test_slots_take_the_longest_key_prefix() -> None:
    assert slot("modelGroups.g.settings.dtype: 'x' is not one of", "g") == "settings.dtype"
    assert slot("modelGroups.g.parallelism.tensor: engine tgi has no", "g") == "gpus.count"
    assert slot("modelGroups.g.extraArgs[3]: unknown", "g") == "extraArgs"
    assert slot("modelGroups.g: group name is not a DNS label; use", "g") == "name"
    assert slot("modelGroups.g.cache.size: bad", "g") == ""
    assert slot("gateway.kind: bad", "g") == ""
    assert slot("modelGroups.gg.model: bad", "g") == ""


def test_catalog_mistakes_name_the_entry_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    cases = {
        "models: []\n": f"{bad}: models: a list of models is required",
        "models: [{name: a, source: hf://a/b}]\n": f"{bad}: models[0].config: required",
        "models: [{name: a, source: s, config: {}, note: x}]\n": (
            f"{bad}: models[0].note: unknown key; allowed: config, name, notes, revision, source"
        ),
        "models: [{name: a, source: s, config: nope.json}]\n": (
            f"{bad}: models[0].config: {tmp_path / 'nope.json'} is not a readable config.json: "
            f"[Errno 2] No such file or directory: '{tmp_path / 'nope.json'}'"
        ),
        "models: [{name: a, source: s, config: {x: 1}}, {name: a, source: t, config: {x: 1}}]\n": (
            f"{bad}: models: a is listed twice; give each a unique name"
        ),
    }
    for text, message in cases.items():
        bad.write_text(text)
        with pytest.raises(ValuesError) as err:
            load_catalog(bad)
        assert str(err.value) == message
    assert Form.from_json({"extra_args": [" a ", " "]}).extra_args == ["a"]


def test_the_readme_start_says_where_it_listens_and_serves_loopback_only() -> None:
    start = shell("make setup  # then, from the checkout (or wherever the wheel is installed):")
    ui = subprocess.Popen(
        [*start.splitlines()[-1].split(), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert ui.stdout is not None
        line = ui.stdout.readline()
        url = line.split()[3]
        port = int(url.rsplit(":", 1)[1].strip("/"))
        assert line == (
            f"corral ui: serving http://127.0.0.1:{port}/ (bound to 127.0.0.1: this machine "
            "only); Ctrl-C stops it\n"
        )
        with urllib.request.urlopen(url, timeout=10) as page:
            assert "Corral: compose a model group" in page.read().decode()
        listening = Path("/proc/net/tcp").read_text()
        assert f"0100007F:{port:04X}" in listening  # 127.0.0.1, not 0.0.0.0
        assert f"00000000:{port:04X}" not in listening
    finally:
        ui.terminate()
        ui.wait(timeout=10)


def test_a_bad_catalog_is_one_line_before_serving() -> None:
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "corral"), "ui", "--catalog", str(QWEN_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        f"corral: error: {QWEN_CONFIG}: models: a list of models is required\n",
    )


def test_a_taken_port_or_a_bad_values_file_is_one_line(tmp_path: Path) -> None:
    corral_bin = str(ROOT / ".venv" / "bin" / "corral")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run(
            [corral_bin, "ui", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        f"corral: error: --port {port}: cannot listen on 127.0.0.1: Address already in use\n",
    )
    bad = tmp_path / "current.yaml"
    bad.write_text("[1]\n")
    done = subprocess.run(
        [corral_bin, "ui", str(bad)], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        f"corral: error: {bad}: a values file must hold a map, not list\n",
    )
