"""The model cache (chart/files/modelcache.py) on loopback, as the chart runs it: a real S3 server
(moto's) holds the models, the real rclone downloads them, and the fetch command is the one the
chart renders, with the pod's paths replaced by a temporary root (tests/objectstore.py). The
agent and hold run as separate processes on the same root, as on a node.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

import prom
from conftest import render
from loopback import free_port, processes
from objectstore import (
    BUCKET,
    MOUNT,
    NO_SPACE,
    RCLONE,
    SCRIPT,
    Store,
    fetched,
    localize,
    md5,
    model_dir,
    rendered,
    run_fetch,
    upload_model,
    wait,
)
from prom import only


def test_rendered_fetch_downloads_verifies_and_renames_into_place(
    store: Store, tmp_path: Path
) -> None:
    files = {"config.json": b'{"a": 1}', "model.safetensors": os.urandom(300_000)}
    etags = upload_model(store, "tiny", files)
    cmd, env, _ = rendered(store, f"s3://{BUCKET}/tiny", pins=etags)
    root = tmp_path / "root"
    root.mkdir()
    done = fetched(cmd, env, root)
    assert done.returncode == 0, done.stderr
    final = model_dir(cmd, root)
    assert final.relative_to(root).parts[:4] == ("models", "s3", BUCKET, "tiny")
    assert final.name.startswith("pinned-")
    assert sorted(p.name for p in final.iterdir()) == sorted(files)
    assert {n: md5(final / n) for n in files} == etags
    assert list((root / ".corral" / "partial").iterdir()) == []
    again = fetched(cmd, env, root)
    assert again.returncode == 0
    assert "cached" in again.stdout
    assert store.gets("tiny/model.safetensors") == 1


def test_wrong_credentials_missing_key_and_changed_etag_each_one_line(
    store: Store, tmp_path: Path
) -> None:
    etags = upload_model(store, "pinned", {"config.json": b"{}", "w.bin": b"x" * 1000})
    cmd, env, _ = rendered(store, f"s3://{BUCKET}/pinned", pins=etags)
    bad = fetched(cmd, {**env, "AWS_SECRET_ACCESS_KEY": "wrong"}, tmp_path / "a")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        f"modelcache: error: s3://{BUCKET}/pinned: the store refused the credentials "
        "(signaturedoesnotmatch); check the Secret's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    ]
    missing_cmd, _, _ = rendered(
        store, f"s3://{BUCKET}/pinned", pins={**etags, "gone.bin": "0" * 32}
    )
    missing = fetched(missing_cmd, env, tmp_path / "b")
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"modelcache: error: s3://{BUCKET}/pinned/gone.bin: pinned object is missing from the "
        "store; re-pin"
    ]
    changed = store.put("pinned/w.bin", b"y" * 1000)
    drift = fetched(cmd, env, tmp_path / "c")
    assert drift.returncode == 1
    assert drift.stderr.strip().splitlines() == [
        f"modelcache: error: s3://{BUCKET}/pinned/w.bin: the store's ETag {changed!r} differs "
        f"from the pinned {etags['w.bin']!r}; the object changed: re-pin it or restore it"
    ]
    for sub in ("a", "b", "c"):
        assert not (tmp_path / sub / "models").exists()


def test_two_concurrent_fetches_make_one_transfer(store: Store, tmp_path: Path) -> None:
    upload_model(store, "shared", {"config.json": b"{}", "big.bin": os.urandom(2_000_000)})
    cmd, env, _ = rendered(store, f"s3://{BUCKET}/shared")
    root = tmp_path / "root"
    root.mkdir()
    slow = {**env, "RCLONE_BWLIMIT": "1M"}
    first, second = run_fetch(cmd, slow, root), run_fetch(cmd, slow, root)
    outs = [p.communicate(timeout=120) for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outs
    assert sorted("cached" in out for out, _ in outs) == [False, True]
    assert store.gets("shared/big.bin") == 1
    events = [
        json.loads(line) for line in (root / ".corral" / "events.jsonl").read_text().splitlines()
    ]
    assert sorted(e["kind"] for e in events) == ["hit", "miss"]


def test_kill_9_mid_download_leaves_nothing_served_and_the_next_attempt_completes(
    store: Store, tmp_path: Path
) -> None:
    body = os.urandom(3_000_000)
    etags = upload_model(store, "killed", {"config.json": b"{}", "big.bin": body})
    cmd, env, _ = rendered(store, f"s3://{BUCKET}/killed", pins=etags)
    root = tmp_path / "root"
    root.mkdir()
    proc = run_fetch(cmd, {**env, "RCLONE_BWLIMIT": "500K"}, root)
    partial = root / ".corral" / "partial"
    wait(lambda: next(p for p in partial.rglob("*") if p.is_file()), timeout=30)
    os.killpg(proc.pid, signal.SIGKILL)  # the pod's container dies: fetch and rclone
    proc.wait(timeout=10)
    final = model_dir(cmd, root)
    assert any(p.is_file() for p in partial.rglob("*"))  # killed mid-way: a part on disk
    assert not final.exists()
    assert list((root / ".corral" / "index").iterdir()) == []
    done = fetched(cmd, env, root)  # the next pod: the lock is free again
    assert done.returncode == 0, done.stderr
    assert md5(final / "big.bin") == hashlib.md5(body).hexdigest()
    assert list(partial.iterdir()) == []


def test_full_disk_gives_one_line_and_no_partial_directory(store: Store, tmp_path: Path) -> None:
    upload_model(store, "huge", {"config.json": b"{}", "big.bin": os.urandom(2_000_000)})
    cmd, env, _ = rendered(store, f"s3://{BUCKET}/huge")
    mnt = tmp_path / "small"
    mnt.mkdir()
    full = {**os.environ, **env, "RCLONE_CONFIG": str(tmp_path / "rclone.conf")}
    for size, inodes, why in (("1m", "64", "needs"), ("8m", "10", "no space")):
        script = (
            f"mount -t tmpfs -o size={size},nr_inodes={inodes} none {mnt} && "
            + " ".join(f"'{a}'" for a in localize(cmd, mnt))
            + f"; code=$?; find {mnt} -path '*/partial/*' | wc -l; ls {mnt}; exit $code"
        )
        # A small filesystem of our own: a tmpfs in a user and mount namespace (no root needed).
        done = subprocess.run(
            ["unshare", "-rm", "sh", "-c", script],
            env=full,
            text=True,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 1, done
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith(f"modelcache: error: s3://{BUCKET}/huge: ")
        assert why in lines[0]
        if why == "no space":
            assert lines[0].endswith(NO_SPACE)
        assert done.stdout.split() == ["0"], done.stdout  # nothing partial, no models directory


def _agent(root: Path, budget: int, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            str(SCRIPT),
            "agent",
            f"--root={root}",
            f"--budget={budget}",
            "--host=127.0.0.1",
            f"--port={port}",
            "--interval=0.2",
        ]
    )


def _metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


def _three_models(store: Store, root: Path) -> list[Path]:
    dirs = []
    for name in ("a", "b", "c"):
        upload_model(store, f"lru-{name}", {"w.bin": os.urandom(400_000)})
        cmd, env, _ = rendered(store, f"s3://{BUCKET}/lru-{name}")
        assert fetched(cmd, env, root).returncode == 0
        dirs.append(model_dir(cmd, root))
        time.sleep(0.05)
    return dirs


def _hold(root: Path, model: Path, ready: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(SCRIPT),
            "hold",
            f"--root={root}",
            f"--dir={model.relative_to(root)}",
            f"--ready={ready}",
        ]
    )
    wait(lambda: ready.stat())
    return proc


def test_agent_evicts_least_recently_used_first_and_counts_it(store: Store, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    a, b, c = _three_models(store, root)
    user = _hold(root, a, tmp_path / "held")  # a pod uses a: now a is the most recent
    user.terminate()
    user.wait(timeout=5)
    port = free_port()
    with processes() as procs:
        procs.append(_agent(root, 900_000, port))  # room for two of the three 400 kB models
        wait(lambda: _metrics(port))
        wait(lambda: _check(not b.exists()))
        time.sleep(0.5)
        got = _metrics(port)
    assert a.exists()
    assert c.exists()
    assert not b.exists()
    assert got["corral_cache_evictions_total"] == 1
    assert got["corral_cache_models"] == 2
    assert got["corral_cache_budget_bytes"] == 900_000
    assert 800_000 <= got["corral_cache_bytes"] <= 900_000
    assert got["corral_cache_misses_total"] == 3
    assert got["corral_cache_hits_total"] == 0
    assert got["corral_cache_download_seconds_total"] > 0


def test_agent_never_evicts_a_model_in_use(store: Store, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    a, b, c = _three_models(store, root)
    port = free_port()
    with processes() as procs:
        procs.append(_hold(root, a, tmp_path / "held"))  # a is the oldest, but a pod holds it
        procs.append(_agent(root, 1, port))
        wait(lambda: _check(not b.exists() and not c.exists()))
        time.sleep(0.5)
        got = _metrics(port)
        assert a.exists()
        assert got["corral_cache_models_in_use"] == 1
        assert got["corral_cache_evictions_total"] == 2
        procs[0].terminate()  # the pod goes: a may go too
        wait(lambda: _check(not a.exists()))
    assert _metrics_after_empty(root)


def _metrics_after_empty(root: Path) -> bool:
    return list((root / ".corral" / "index").iterdir()) == []


def _check(ok: bool) -> None:
    if not ok:
        raise OSError("not yet")


def test_chart_renders_node_cache_paths_for_the_pod(store: Store) -> None:
    _, _, got = rendered(store, f"s3://{BUCKET}/tiny")
    pod = got["pod"]
    names = [c["name"] for c in pod["initContainers"]]
    assert names == ["cache-hold", "rclone", "download"]
    assert pod["initContainers"][0]["restartPolicy"] == "Always"
    engine = pod["containers"][0]
    mount = next(m for m in engine["volumeMounts"] if m["name"] == "cache")
    assert mount == {"name": "cache", "mountPath": MOUNT, "readOnly": True}
    volume = next(v for v in pod["volumes"] if v["name"] == "cache")
    assert volume == {
        "name": "cache",
        "hostPath": {"path": "/var/lib/corral/models", "type": "Directory"},
    }
    assert f"{MOUNT}/models/s3/{BUCKET}/tiny/unpinned" in engine["args"]
    secret_env = [e for e in pod["initContainers"][2]["env"] if "valueFrom" in e]
    assert {e["name"] for e in secret_env} == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    }


def test_agent_preloads_the_rendered_preload_list_checking_pins(
    store: Store, tmp_path: Path
) -> None:
    good = upload_model(store, "pre-good", {"w.bin": os.urandom(100_000)})
    upload_model(store, "pre-drift", {"w.bin": os.urandom(100_000)})
    preload = [
        {"model": f"s3://{BUCKET}/pre-good", "pins": good},
        {"model": f"s3://{BUCKET}/pre-drift", "pins": {"w.bin": "0" * 32}},
    ]
    sets = [
        "modelGroups.m.model=s3://weights/x",
        "modelGroups.m.cache.type=node",
        "objectStore.provider=Other",
        f"objectStore.endpoint={store.url}",
        "objectStore.pathStyle=true",
        "objectStore.credentials.existingSecret=s3-creds",
    ]
    values = tmp_path / "values.yaml"
    values.write_text(json.dumps({"nodeCache": {"preload": preload}}))
    docs = render([values], sets=sets)
    agent = only(docs, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]
    root = tmp_path / "root"
    root.mkdir()
    port = free_port()
    swap = {
        "--root=/cache": f"--root={root}",
        "--rclone=/run/corral/rclone": f"--rclone={RCLONE}",
        "--interval=30": "--interval=0.2",
        "/corral/modelcache.py": str(SCRIPT),
        "python3": sys.executable,
    }
    argv = [swap.get(a, a) for a in agent["command"] if not a.startswith("--port=")]
    argv += ["--host=127.0.0.1", f"--port={port}"]
    env = {e["name"]: e.get("value", store.creds.get(e["name"], "")) for e in agent["env"]}
    env = {**os.environ, **env, "RCLONE_CONFIG": str(tmp_path / "rclone.conf")}
    log = tmp_path / "agent.log"
    drift = f"modelcache: preload: error: s3://{BUCKET}/pre-drift/w.bin: the store's ETag"
    with processes() as procs, open(log, "w") as out:
        procs.append(subprocess.Popen(argv, env=env, stdout=out))
        wait(lambda: _check(drift in log.read_text()))
        # The agent counts the fetches' events on its next scan (every --interval).
        wait(lambda: _check(_metrics(port)["corral_cache_models"] == 1))
        got = _metrics(port)
    assert got["corral_cache_misses_total"] == 1
    assert got["corral_cache_models"] == 1
    good_dirs = list((root / "models" / "s3" / BUCKET / "pre-good").iterdir())
    assert [d.name[:7] for d in good_dirs] == ["pinned-"]
    assert md5(good_dirs[0] / "w.bin") == good["w.bin"]
    assert not (root / "models" / "s3" / BUCKET / "pre-drift").exists()


def test_dashboard_panels_read_the_agent_as_its_pod_monitor_scrapes_it(
    store: Store, tmp_path: Path
) -> None:
    upload_model(store, "dash", {"w.bin": os.urandom(300_000)})
    cmd, env, _ = rendered(store, f"s3://{BUCKET}/dash")
    root = tmp_path / "root"
    root.mkdir()
    assert fetched(cmd, env, root).returncode == 0  # a miss
    assert fetched(cmd, env, root).returncode == 0  # a hit
    docs = render(
        sets=[
            f"modelGroups.m.model=s3://{BUCKET}/dash",
            "modelGroups.m.cache.type=node",
            "monitoring.podMonitor.enabled=true",
            "monitoring.dashboard.enabled=true",
        ]
    )
    panels = json.loads(only(docs, "ConfigMap", "llm-corral-dashboard")["data"]["corral.json"])
    cache_panels = [p for p in panels["panels"] if p["title"].startswith("Node model cache")]
    assert [p["id"] for p in cache_panels] == [9, 10]
    port = free_port()
    target = prom.pod_target(
        docs, "llm-corral-cache-agent", f"127.0.0.1:{port}", kind="DaemonSet", node="gpu-h100-0"
    )
    with processes() as procs:
        procs.append(_agent(root, 5_000_000, port))
        wait(lambda: _metrics(port))
        with prom.prometheus([target]) as url:
            used, budget = (prom.query(url, t["expr"]) for t in cache_panels[0]["targets"])
            assert used == [({"node": "gpu-h100-0"}, 300_000.0)]
            assert budget == [({"node": "gpu-h100-0"}, 5_000_000.0)]
            series = {"app_kubernetes_io_instance": "llm", "node": "gpu-h100-0"}
            for name in ("corral_cache_hits_total", "corral_cache_misses_total"):
                ((labels, value),) = prom.query(url, name)
                assert (value, {k: labels[k] for k in series}) == (1.0, series)
            for panel_target in cache_panels[1]["targets"]:  # increase() needs two scrapes
                expr = panel_target["expr"]
                wait(lambda e=expr: _check(bool(prom.query(url, e))), timeout=10)
                assert [labels for labels, _ in prom.query(url, expr)] == [{"node": "gpu-h100-0"}]
