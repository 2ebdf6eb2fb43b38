"""`corral run`: one group's engine here, started from the chart's render, until stopped."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from corral import local
from corral.check import coalesce
from corral.errors import CorralError
from corral.groups import enabled
from corral.render import render


def pick_group(full: Mapping[str, Any], group: str | None) -> str:
    """The group to run of the chart-defaults-merged values: the one named, or the only one."""
    names = [g.name for g in enabled(full)]
    if group is None and len(names) == 1:
        return names[0]
    if group in names:
        return str(group)
    choice = ", ".join(names) or "none enabled"
    if group is None:
        raise CorralError(f"--group: the values have several groups; pick one of: {choice}")
    raise CorralError(f"--group: {group!r} is not an enabled model group; pick one of: {choice}")


def model_folder(full: Mapping[str, Any], group: str, model_dir: Path | None) -> Path:
    """--model-dir, or the group's model when it is already a local folder."""
    if model_dir is not None:
        return model_dir.resolve()
    model = str((full["modelGroups"][group] or {}).get("model", ""))
    if model.startswith("/") and Path(model).is_dir():
        return Path(model)
    raise CorralError(
        f"--model-dir: modelGroups.{group}.model is {model!r} and corral run never downloads; "
        "give the folder of a local copy"
    )


def main(
    values: Mapping[str, Any],
    group: str | None,
    *,
    model_dir: Path | None,
    host: str,
    device: str,
    kv_cache_gib: int,
    state_dir: Path,
    echo: Callable[[str], None],
) -> None:
    """Render, start the group's engine, report it, and stop it on Ctrl-C or SIGTERM."""
    full = coalesce(values)
    name = pick_group(full, group)
    folder = model_folder(full, name, model_dir)
    gpus = device == "gpu" or (device == "auto" and shutil.which("nvidia-smi") is not None)
    state = state_dir.resolve()
    engine = local.command(
        render(values),
        name,
        model_dir=folder,
        state_dir=state,
        host=host,
        gpus=gpus,
        kv_cache_gib=kv_cache_gib,
        cpus=f"0-{(os.cpu_count() or 1) - 1}",
    )
    log = state / f"{name}.log"
    state.mkdir(parents=True, exist_ok=True)
    for line in engine.replaced:
        echo(f"replaced: {line}")
    proc = local.start(engine, local.default_bin_dirs(), log)

    def terminate(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        echo(f"starting {engine.engine} for modelGroups.{name} (log: {log})")
        last = [0.0]

        def progress(waited: float) -> None:
            if waited - last[0] >= 10:
                last[0] = waited
                echo(f"  waiting for {engine.startup.path}: {waited:.0f} s")

        waited = local.wait_ready(engine, proc, progress)
        echo(f"ready after {waited:.0f} s: {engine.url}/v1")
        echo(f"served names: {', '.join(engine.served_names)}")
        echo("Ctrl-C stops it")
        while proc.poll() is None:
            time.sleep(0.5)
        raise CorralError(f"modelGroups.{name}: {engine.engine} exited with {proc.returncode}")
    except KeyboardInterrupt:
        echo(f"stopping {engine.engine}")
    finally:
        local.stop(proc)
        signal.signal(signal.SIGTERM, previous)
