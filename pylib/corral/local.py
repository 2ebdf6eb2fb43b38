"""A model group's rendered engine command, run on this machine exactly as the chart renders it.

Only what cannot hold outside a pod is replaced, each replacement here and nowhere else:

- the model the engine loads: the rendered path points into the pod's cache volume (or names a
  hub id); a local model directory takes its place, so nothing is downloaded; likewise each LoRA
  adapter given a local directory (the `name=path` words after the preset's `lora.modules` flag);
- the bind host: pods bind every interface (0.0.0.0); here the engine binds one loopback address;
- env that only a pod has: values from Secrets or the pod's own fields are left out, and cache
  folders the chart points into the pod's volume (`HF_HOME`) move to a local state folder, which
  also holds the engine's compile caches and `TMPDIR`;
- on a machine without GPUs, the engine preset's `local.cpu` replacements (for vLLM: no
  `--gpu-memory-utilization`, one tensor-parallel rank, the KV cache sized in GiB of host RAM).

Everything else (flags, served names, port, probes, the startup budget) is the rendered pod's.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral import chart
from corral.errors import CorralError, ToolError
from corral.render import Manifests

# The engine venv `make setup` builds in a checkout (README, "Engine tier").
CHECKOUT_ENGINES = chart.CHART_DIR.parent / ".engine" / "venv" / "bin"
POD_ONLY_ENV = ("HF_HOME",)  # folders the chart points into the pod's cache volume
# Engines put IPC sockets in TMPDIR (vLLM: TMPDIR/<uuid4>), and a socket path has at most 107 bytes.
MAX_TMPDIR = 107 - 1 - 36
_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


class EngineNotInstalled(ToolError):
    """The group's engine has no local install."""


@dataclass(frozen=True)
class Probe:
    """One of the rendered pod's HTTP probes."""

    path: str
    port: int
    budget: float  # seconds the kubelet allows before it gives up (failureThreshold x period)


@dataclass(frozen=True)
class Engine:
    """A group's engine command for this machine, ready to start."""

    group: str
    engine: str
    argv: list[str]
    env: dict[str, str]
    host: str
    port: int
    served_names: list[str]
    probes: dict[str, Probe]
    replaced: list[str] = field(default_factory=list)  # what changed from the pod, one line each

    @property
    def startup(self) -> Probe:
        """The probe that gates start-up: the startup probe, else readiness."""
        return self.probes.get("startup") or self.probes["readiness"]

    @property
    def url(self) -> str:
        """Where the engine answers."""
        return f"http://{self.host}:{self.port}"


def _workload(manifests: Manifests, group: str) -> dict[str, Any]:
    """The pod template of the group's serving pods (the leader's, for multi-node groups)."""
    for doc in manifests:
        labels = doc.get("metadata", {}).get("labels", {})
        # The group's standby and adapter relays carry its group label too.
        if (
            labels.get("corral.dev/group") != group
            or labels.get("app.kubernetes.io/component") != "model-server"
        ):
            continue
        if doc["kind"] == "Deployment":
            template: dict[str, Any] = doc["spec"]["template"]
            return template
        if doc["kind"] == "LeaderWorkerSet":
            raise CorralError(
                f"modelGroups.{group}.nodes: a multi-node group cannot run on one machine; "
                "run a copy with nodes: 1"
            )
    raise CorralError(f"modelGroups.{group}: no serving pods in the render (disabled?)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of command and args ($$ is a literal $)."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        return env.get(name, match.group(0))

    return _VAR.sub(one, text)


def _set_flag(args: list[str], flag: str, value: str | None) -> bool:
    """Replace flag's value (`--f=v` or `--f v`) in place, or drop it when value is None."""
    for i, arg in enumerate(args):
        if arg == flag or arg.startswith(flag + "="):
            spaced = arg == flag
            del args[i : i + (2 if spaced else 1)]
            if value is not None:
                args[i:i] = [flag, value] if spaced else [f"{flag}={value}"]
            return True
    return False


def _probes(container: dict[str, Any]) -> dict[str, Probe]:
    ports = {p.get("name"): int(p["containerPort"]) for p in container.get("ports", [])}
    probes = {}
    for kind in ("startup", "readiness", "liveness"):
        probe = container.get(f"{kind}Probe")
        if not probe or "httpGet" not in probe:
            continue
        port = probe["httpGet"]["port"]
        budget = probe.get("initialDelaySeconds", 0) + probe.get("failureThreshold", 3) * probe.get(
            "periodSeconds", 10
        )
        probes[kind] = Probe(
            probe["httpGet"]["path"], ports[port] if isinstance(port, str) else int(port), budget
        )
    return probes


def command(
    manifests: Manifests,
    group: str,
    *,
    model_dir: Path,
    state_dir: Path,
    host: str = "127.0.0.1",
    gpus: bool = False,
    kv_cache_gib: int = 1,
    cpus: str = "",
    adapter_dirs: Mapping[str, Path] | None = None,
) -> Engine:
    """The group's rendered engine container as a local command (see the module docstring).

    adapter_dirs maps LoRA adapter names to local directories.
    """
    pod = _workload(manifests, group)
    labels = pod["metadata"]["labels"]
    (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "engine"]
    engine = labels["corral.dev/engine"]
    preset = chart.engine_presets()[engine]
    args = [str(a) for a in container.get("args", [])]
    replaced = []

    env = {e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}
    dropped = [e["name"] for e in container.get("env", []) if "value" not in e]
    if dropped:
        replaced.append(f"env {', '.join(dropped)}: from the pod's Secrets or fields; left out")
    for name in POD_ONLY_ENV:
        if name in env:
            env[name] = str(state_dir / name.lower())
            replaced.append(f"env {name}: a folder of the pod's cache volume; {env[name]}")
    env = {k: expand(v, env) for k, v in env.items()}

    style, flag = preset["modelArg"]["style"], preset["modelArg"]["flag"]
    if style == "positional":
        replaced.append(f"model {args[0]}: the pod's cache; {model_dir}")
        args[0] = str(model_dir)
    elif style == "flag" and _set_flag(args, flag, str(model_dir)):
        replaced.append(f"model ({flag}): the pod's cache; {model_dir}")
    elif "CORRAL_MODEL" in env:
        replaced.append(f"env CORRAL_MODEL {env['CORRAL_MODEL']}: the pod's cache; {model_dir}")
        env["CORRAL_MODEL"] = str(model_dir)

    replaced += _local_adapters(args, preset, adapter_dirs or {})

    host_flag = preset["flags"]["host"]
    if host_flag and _set_flag(args, host_flag, host):
        replaced.append(f"{host_flag}: pods bind every interface; {host}")

    cpu = preset["local"]["cpu"]
    if not gpus:
        if cpu is None:
            raise EngineNotInstalled(
                f"modelGroups.{group}.engine: {engine} needs NVIDIA GPUs; "
                f"{preset['local']['install']}"
            )
        fill = {"kv_cache_gib": str(kv_cache_gib), "cpus": cpus}
        for cpu_flag, value in (cpu.get("args") or {}).items():
            if _set_flag(args, cpu_flag, value):
                replaced.append(f"{cpu_flag}: GPU-only; {'dropped' if value is None else value}")
        for name, value in (cpu.get("env") or {}).items():
            if filled := value.format(**fill):
                env[name] = filled
                replaced.append(f"env {name}={filled}: the CPU build's equivalent")

    tmp = state_dir / "tmp"
    if len(str(tmp)) > MAX_TMPDIR:
        raise CorralError(
            f"--state-dir: {state_dir} is too long for the engine's sockets in {tmp} "
            f"({len(str(tmp))} characters; at most {MAX_TMPDIR}); use a shorter folder"
        )
    env |= {"TMPDIR": str(tmp), "XDG_CACHE_HOME": str(state_dir / "cache")}
    argv = [expand(a, env) for a in [*container.get("command", []), *args]]
    port = int(container["ports"][0]["containerPort"])
    names = _served_names(args, preset) or [labels["corral.dev/model"]]
    return Engine(group, engine, argv, env, host, port, names, _probes(container), replaced)


def _local_adapters(args: list[str], preset: dict[str, Any], dirs: Mapping[str, Path]) -> list[str]:
    """Point each adapter named in dirs at its local directory, in place; what was replaced."""
    flag = (preset.get("lora") or {}).get("modules")
    if not flag or flag not in args:
        return []
    replaced = []
    for i in range(args.index(flag) + 1, len(args)):
        name, sep, path = args[i].partition("=")
        if not sep or args[i].startswith("-"):
            break
        if name in dirs:
            args[i] = f"{name}={dirs[name]}"
            replaced.append(f"adapter {name} {path}: the pod's cache; {dirs[name]}")
    return replaced


def _served_names(args: list[str], preset: dict[str, Any]) -> list[str]:
    """The names the rendered args tell the engine to serve (all values after the flag)."""
    flag = preset["flags"]["servedName"]
    names: list[str] = []
    for i, arg in enumerate(args):
        if flag and arg.startswith(flag + "="):
            return [arg.split("=", 1)[1]]
        if flag and arg == flag:
            for value in args[i + 1 :]:
                if value.startswith("-"):
                    break
                names.append(value)
    return names


def executable(engine: Engine, bin_dirs: list[Path]) -> list[str]:
    """engine.argv with its program found in bin_dirs, then on the PATH; one line if missing."""
    program, *rest = engine.argv
    path = os.pathsep.join([*(str(d) for d in bin_dirs), os.environ.get("PATH", "")])
    found = shutil.which(program, path=path)
    preset = chart.engine_presets()[engine.engine]
    install = preset["local"]["install"]
    if not found:
        raise EngineNotInstalled(
            f"modelGroups.{engine.group}.engine: {engine.engine} is not installed here "
            f"(no `{program}`); {install}"
        )
    if rest[:1] == ["-m"]:
        module = rest[1]
        probe = [
            found,
            "-c",
            f"import importlib.util, sys; sys.exit(not importlib.util.find_spec({module!r}))",
        ]
        if subprocess.run(probe, check=False, capture_output=True).returncode:
            raise EngineNotInstalled(
                f"modelGroups.{engine.group}.engine: {engine.engine} is not installed here "
                f"(no module {module} for {found}); {install}"
            )
    return [found, *rest]


def start(engine: Engine, bin_dirs: list[Path], log: Path) -> subprocess.Popen[bytes]:
    """Start the engine in its own process group (its workers too), output into log."""
    argv = executable(engine, bin_dirs)
    for folder in ("TMPDIR", "XDG_CACHE_HOME"):
        Path(engine.env[folder]).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **engine.env}
    bin_path = str(Path(argv[0]).parent)
    env["PATH"] = os.pathsep.join([bin_path, env.get("PATH", "")])
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(proc: subprocess.Popen[bytes], grace: float = 20) -> None:
    """SIGTERM the engine's process group, SIGKILL what is left after grace seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; make sure no worker of its group is left.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


def wait_ready(
    engine: Engine,
    proc: subprocess.Popen[bytes],
    progress: Callable[[float], None] = lambda _: None,
) -> float:
    """Seconds until the startup probe answers 200, within the rendered startup budget."""
    probe = engine.startup
    url = f"http://{engine.host}:{probe.port}{probe.path}"
    began = time.monotonic()
    while (waited := time.monotonic() - began) < probe.budget:
        if proc.poll() is not None:
            raise ToolError(
                f"modelGroups.{engine.group}: {engine.engine} exited with {proc.returncode} "
                f"after {waited:.0f} s while starting"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return waited
        except (urllib.error.URLError, OSError):
            pass
        progress(waited)
        time.sleep(0.5)
    raise ToolError(
        f"modelGroups.{engine.group}: {url} did not answer 200 within the startup budget "
        f"({probe.budget:.0f} s)"
    )


def default_bin_dirs() -> list[Path]:
    """Where engines are looked for before the PATH: the checkout's engine venv, then Python's."""
    return [d for d in (CHECKOUT_ENGINES, Path(sys.executable).parent) if d.is_dir()]
