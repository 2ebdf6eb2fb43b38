"""The node cache in a real API server with simulated GPU and CPU nodes: examples/node-cache.yaml
installs, one cache agent lands on every GPU node and no other (the H100 nodes' own agent preloading
the release's models there, the shared agent elsewhere), its model pods mount the node's
cache read-only where their engine loads from, and Pod Security finds nothing but the hostPath
to object to in the agent.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from conftest import CHART, ROOT
from kube import KUBECTL, get, helm, kubectl, ready, release, run, wait_for

EXAMPLE = ROOT / "examples" / "node-cache.yaml"
VALUES = yaml.safe_load(EXAMPLE.read_text())
ROOT_DIR = yaml.safe_load((CHART / "values.yaml").read_text())["nodeCache"]["root"]


def agents(namespace: str) -> list[dict[str, Any]]:
    """The cache agent's pods."""
    selector = "app.kubernetes.io/component=cache-agent"
    return list(get("pods", "-n", namespace, "-l", selector)["items"])


def test_agent_runs_on_every_gpu_node_and_pods_mount_the_node_cache(namespace: str) -> None:
    done = release("install", namespace, "-f", EXAMPLE, "--wait", "--timeout", "4m")
    assert "STATUS: deployed" in done
    gpu_nodes = {
        n["metadata"]["name"] for n in get("nodes", "-l", "nvidia.com/gpu.present=true")["items"]
    }
    all_nodes = {n["metadata"]["name"] for n in get("nodes")["items"]}
    assert gpu_nodes
    assert gpu_nodes != all_nodes  # the cluster has CPU-only nodes too

    def placed() -> list[dict[str, Any]]:
        found = agents(namespace)
        return found if len(found) == len(gpu_nodes) and all(ready(p) for p in found) else []

    pods = wait_for(placed, timeout=120, message="a ready cache agent on every GPU node")
    assert {p["spec"]["nodeName"] for p in pods} == gpu_nodes  # one agent per GPU node, no more
    # preloadGroups: the H100 nodes (where both groups run) get an agent of their own that
    # preloads both groups' models; the shared agent, preloading nothing, takes the other GPU nodes.
    h100 = {
        n["metadata"]["name"]
        for n in get("nodes", "-l", "nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3")["items"]
    }
    assert h100
    assert h100 < gpu_nodes
    owners = {p["spec"]["nodeName"]: p["metadata"]["ownerReferences"][0]["name"] for p in pods}
    assert {
        n for n, o in owners.items() if o == "llm-corral-cache-agent-nvidia-h100-80gb-hbm3"
    } == h100
    assert {n for n, o in owners.items() if o == "llm-corral-cache-agent"} == gpu_nodes - h100
    shared = get("daemonset", "-n", namespace, "llm-corral-cache-agent")
    assert shared["status"]["desiredNumberScheduled"] == len(gpu_nodes - h100)
    for pod in pods:
        preloads = [
            json.loads(arg.removeprefix("--preload="))["source"]
            for arg in pod["spec"]["containers"][0]["command"]
            if arg.startswith("--preload=")
        ]
        wanted = sorted(g["model"] for g in VALUES["modelGroups"].values())
        assert sorted(preloads) == (wanted if pod["spec"]["nodeName"] in h100 else [])
    root = ROOT_DIR
    for pod in pods:
        volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "cache")
        assert volume["hostPath"] == {"path": root, "type": "Directory"}

    for group in VALUES["modelGroups"]:
        selector = f"app.kubernetes.io/component=model-server,corral.dev/group={group}"
        model_pods = get("pods", "-n", namespace, "-l", selector)["items"]
        assert model_pods, group
        for pod in model_pods:
            spec = pod["spec"]
            assert spec["nodeName"] in gpu_nodes
            init = {c["name"]: c for c in spec["initContainers"]}
            assert list(init) == ["cache-hold", "rclone", "download"]
            assert init["cache-hold"]["restartPolicy"] == "Always"  # kept as a native sidecar
            fetch = init["download"]["command"]
            model_dir = fetch[fetch.index("--dir") + 1]
            mount = fetch[fetch.index("--root") + 1]
            assert model_dir.startswith(f"models/s3/{VALUES['modelGroups'][group]['model'][5:]}/")
            engine = next(c for c in spec["containers"] if c["name"] == "engine")
            cache_mount = next(m for m in engine["volumeMounts"] if m["name"] == "cache")
            assert cache_mount == {"name": "cache", "mountPath": mount, "readOnly": True}
            assert f"{mount}/{model_dir}" in engine["args"]
            volume = next(v for v in spec["volumes"] if v["name"] == "cache")
            assert volume["hostPath"] == {"path": root, "type": "Directory"}
            hold_mounts = {m["name"]: m["mountPath"] for m in init["cache-hold"]["volumeMounts"]}
            assert hold_mounts["cache"] == mount
            # the hold runs the same script and names the same directory as the fetch
            hold = init["cache-hold"]["command"]
            assert hold[hold.index("--dir") + 1] == model_dir


def test_pod_security_objects_only_to_the_agents_host_path(namespace: str) -> None:
    rendered = helm("template", "llm", ROOT / "chart", "-n", namespace, "-f", EXAMPLE).stdout
    daemonsets = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "DaemonSet"]
    assert len(daemonsets) == 2  # the shared agent and the H100 nodes' own
    for daemonset in daemonsets:
        found = {}
        for level in ("restricted", "baseline"):
            kubectl(
                "label",
                "--overwrite",
                "namespace",
                namespace,
                f"pod-security.kubernetes.io/warn={level}",
            )
            done = run(
                KUBECTL,
                "apply",
                "-n",
                namespace,
                "--dry-run=server",
                "-f",
                "-",
                stdin=yaml.safe_dump(daemonset),
            )
            found[level] = [
                line for line in done.stderr.splitlines() if line.startswith("Warning:")
            ]
        # restricted: non-root, no privilege escalation, capabilities dropped, seccomp all pass.
        assert found == {
            "restricted": [
                'Warning: would violate PodSecurity "restricted:latest": restricted volume types '
                '(volume "cache" uses restricted volume type "hostPath")'
            ],
            "baseline": [
                'Warning: would violate PodSecurity "baseline:latest": hostPath volumes (volume "cache")'
            ],
        }, daemonset["metadata"]["name"]
