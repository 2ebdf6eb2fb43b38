"""Real vLLM serves a model the chart's node cache brought from an S3 store on loopback, and a
second pod on the same node starts from the copy the first one made.

Each "pod" is what the chart renders for a `cache.type: node` group with an s3:// model, run on
one shared root (the node's disk): the cache-hold sidecar, the fetch init container, then the
engine (tests/engines.py) on the directory the fetch filled (the second pod's engine would load
the same directory, so it is not started again). The time of each step is printed and written
to .engine/logs/nodecache-cold-start.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from corral.render import Manifests
from engines import LOGS, MODEL, require_engine, serve
from loopback import processes
from loopback import request as call
from objectstore import BUCKET, Store, fetched, localize, model_dir, rendered, wait

PREFIX = "engine/test-model"


def _pod(store: Store, root: Path, held: Path, engine: bool) -> dict[str, float | bool]:
    """Start one pod on the node: hold, fetch, and (if engine) the engine; seconds of each step,
    and whether the fetch hit."""
    cmd, env, got = rendered(store, f"s3://{BUCKET}/{PREFIX}")
    hold = next(c for c in got["pod"]["initContainers"] if c["name"] == "cache-hold")
    started = time.monotonic()
    with processes() as procs:
        procs.append(subprocess.Popen(localize(hold["command"], root)))  # --ready: held
        wait(held.stat)
        done = fetched(cmd, env, root)
        assert done.returncode == 0, done.stderr
        fetch_s = time.monotonic() - started
        if not engine:
            held.unlink()
            return {"fetch_s": round(fetch_s, 2), "hit": "cached" in done.stdout}
        with serve(Manifests(got["docs"]), ["m"], model_dir=model_dir(cmd, root)) as (served,):
            status, body, _ = call(served.engine.url + "/v1/models")
            assert status == 200
            assert isinstance(body, dict)
            assert [m["id"] for m in body["data"]] == ["m"]
            total = time.monotonic() - started
    held.unlink()
    return {
        "fetch_s": round(fetch_s, 2),  # hold started and the model in place
        "engine_s": round(total - fetch_s, 2),  # then the engine up to its startup probe
        "ready_s": round(total, 2),
        "hit": "cached" in done.stdout,
    }


def test_second_pod_on_a_node_serves_from_the_node_cache(store: Store, tmp_path: Path) -> None:
    require_engine()
    store.put_dir(PREFIX, MODEL)
    root = tmp_path / "node"
    root.mkdir()
    (tmp_path / "run").mkdir()
    held = tmp_path / "run" / "held"  # the pod's /run/corral/held, as localize places it
    first = _pod(store, root, held, engine=True)
    # The second pod's engine would load the same directory: one vLLM start is enough.
    second = _pod(store, root, held, engine=False)
    weights = sorted(p.relative_to(MODEL).as_posix() for p in MODEL.rglob("*.safetensors"))
    assert weights
    assert [store.gets(f"{PREFIX}/{w}") for w in weights] == [1] * len(weights)  # one transfer
    assert (first["hit"], second["hit"]) == (False, True)
    assert second["fetch_s"] < first["fetch_s"]
    size = sum(p.stat().st_size for p in MODEL.rglob("*") if p.is_file())
    # What the node cache saves a second pod is the download; the engine then starts from the
    # same directory as the first pod's did (its own start varies with the machine's load).
    figures = {
        "model_bytes": size,
        "first_pod": first,
        "second_pod": second,
        "download_saved_s": round(float(first["fetch_s"]) - float(second["fetch_s"]), 2),
    }
    (LOGS / "nodecache-cold-start.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures), file=sys.stderr)
