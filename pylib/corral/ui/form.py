"""The form's state as a model group, and the library's verdicts on it for the page.

`Workbench.evaluate` builds the values file the user would download, then asks `check.check`
(schema, chart rules, engine flags, GPU fit), `size` (the model's figures and each GPU profile's
memory), `fit.reason` (each profile's verdict) and, over a current values file, `diff` (what an
upgrade would restart). Nothing here decides whether values are valid or whether a model fits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from corral import _yaml, chart, check, diff, fit, flags, size
from corral.compose import ModelGroup, group_name
from corral.errors import ValuesError
from corral.groups import enabled, profiles
from corral.render import render_text
from corral.ui.catalog import Entry
from corral.values import add_group, dump, load, merge

SETTINGS = (
    "maxContextLength",
    "gpuMemoryFraction",
    "dtype",
    "quantization",
    "prefixCaching",
    "trustRemoteCode",
)
# Where on the form a problem about a group's key shows: the longest key prefix that has a slot.
SLOTS = {
    "model": "model",
    "revision": "revision",
    "engine": "engine",
    "image": "engine",
    "gpus": "gpus",
    "gpus.type": "gpus",
    "gpus.count": "gpus.count",
    "parallelism": "gpus.count",
    "extraArgs": "extraArgs",
    **{f"settings.{s}": f"settings.{s}" for s in SETTINGS},
}
# Weights the model page shows beside the checkpoint's: quantized on load to 8 and 4 bits.
QUANTIZED = (("fp8", "fp8 (8-bit)"), ("awq", "awq / gptq (4-bit)"))
DEFAULT_CONCURRENCY = 16


@dataclass
class Form:
    """What the browser posts: every field as typed (text), the model's config when pasted."""

    name: str = ""
    model: str = ""
    revision: str = ""
    engine: str = "vllm"
    gpu_type: str = ""
    gpus: str = "1"
    settings: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)
    concurrency: str = str(DEFAULT_CONCURRENCY)
    catalog: str = ""
    config: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Form:
        """The form from the page's JSON (unknown keys are refused)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValuesError(f"form: unknown field {unknown[0]}")
        form = cls(**data)
        form.extra_args = [a.strip() for a in form.extra_args if a.strip()]
        return form


def _typed(text: str, kind: type[int] | type[float]) -> Any:
    """The number typed, or the text itself so the schema names what is wrong with it."""
    text = text.strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        return text


def _settings(form: Form) -> dict[str, Any]:
    raw = form.settings
    chosen: dict[str, Any] = {
        "maxContextLength": _typed(raw.get("maxContextLength", ""), int),
        "gpuMemoryFraction": _typed(raw.get("gpuMemoryFraction", ""), float),
        "dtype": raw.get("dtype") or None,
        "quantization": raw.get("quantization") or None,
        "prefixCaching": {"true": True, "false": False}.get(raw.get("prefixCaching", "")),
        "trustRemoteCode": True if raw.get("trustRemoteCode") == "true" else None,
    }
    return {k: v for k, v in chosen.items() if v is not None}


def model_group(form: Form) -> ModelGroup:
    """The form as a model group (typed values where they parse; the text where not)."""
    count = _typed(form.gpus, int)
    whole = count if isinstance(count, int) else None
    extra: dict[str, Any] = {"extraArgs": list(form.extra_args)} if form.extra_args else {}
    if count is not None and whole is None:
        extra["gpus"] = {"count": count}
    return ModelGroup(
        model=form.model.strip(),
        engine=form.engine,
        name=form.name.strip(),
        gpus=whole,
        gpu_type=form.gpu_type or None,
        tensor=whole if whole and whole > 1 else None,
        revision=form.revision.strip() or None,
        settings=_settings(form),
        extra=extra,
    )


def slot(line: str, group: str) -> str:
    """The form slot a problem line belongs next to ("" for the list above the result)."""
    path = line.split(": ", 1)[0]
    prefix = f"modelGroups.{group}"
    if path == prefix:
        return "name"
    if not path.startswith(prefix + "."):
        return ""
    rest = path.removeprefix(prefix + ".")
    keys = [k for k in SLOTS if rest == k or rest.startswith((f"{k}.", f"{k}["))]
    return SLOTS[max(keys, key=len)] if keys else ""


class Workbench:
    """The app's state: the current values (if any), the catalog, and a folder for configs."""

    def __init__(self, current: Sequence[Path] = (), catalog: Sequence[Entry] = ()) -> None:
        """Read the current values files now, so a bad one fails at start."""
        self.current_paths = list(current)
        self.current = merge(*(load(p) for p in current))
        self.current_text = current[0].read_text() if len(current) == 1 else ""
        if len(current) > 1:
            self.current_text = dump(self.current)
        self.catalog = {e.name: e for e in catalog}
        self._configs = tempfile.TemporaryDirectory(prefix="corral-ui-")

    def close(self) -> None:
        """Remove the configs written for sizing."""
        self._configs.cleanup()

    @cached_property
    def current_render(self) -> str:
        """`helm template` of the current values (once: they do not change while serving)."""
        return render_text(self.current)

    def config_path(self, form: Form) -> Path | None:
        """The model's config.json as a file the sizing reads (catalog entry, else pasted)."""
        entry = self.catalog.get(form.catalog)
        if form.catalog and entry is None:
            raise ValuesError(f"catalog: no model named {form.catalog!r}")
        config = entry.config if entry else form.config
        if config is None:
            return None
        if not isinstance(config, dict):
            raise ValuesError("config.json: must hold a JSON object")
        text = json.dumps(config, sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        label = group_name(entry.name if entry else str(config.get("_name_or_path") or "model"))
        path = Path(self._configs.name) / digest / label / "config.json"
        if not path.exists():  # written whole, then renamed: requests run in threads
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{threading.get_ident()}.json")
            partial.write_text(text)
            partial.replace(path)
        return path

    def evaluate(self, form: Form) -> dict[str, Any]:
        """The values file, its problems by slot, the sizing and profiles, and the diff."""
        group = model_group(form)
        text = add_group(self.current_text, group.key, group.to_values())
        values = _yaml.load(text)
        config = self.config_path(form)
        model = _model(config) if config else None
        lines = check.check(values, configs={group.key: config} if config else None)
        result: dict[str, Any] = {
            "group": group.key,
            "yaml": text,
            "problems": [{"slot": slot(line, group.key), "message": line} for line in lines],
            "model": None,
            "profiles": [],
            "diff": None,
        }
        full = check.coalesce(values)
        resolved = next((g for g in enabled(full) if g.name == group.key), None)
        if model and resolved and not check.schema_problems(full):
            concurrency = _typed(form.concurrency, int)
            wanted = concurrency if isinstance(concurrency, int) and concurrency > 0 else 1
            result["model"] = describe(model, resolved.values)
            result["profiles"] = picture(model, resolved.values, profiles(full), wanted)
        if self.current_paths and not lines:
            impact = diff.impact_of_texts(self.current_render, render_text(values))
            result["diff"] = dataclasses.asdict(impact)
        return result

    def page(self) -> dict[str, Any]:
        """What the page template shows before the first evaluation."""
        presets = chart.engine_presets()
        schema = chart.schema()["$defs"]["groupSettings"]["properties"]
        described = {k: schema["settings"]["properties"][k]["description"] for k in SETTINGS}
        described["tensor"] = schema["parallelism"]["properties"]["tensor"]["description"]
        described["extraArgs"] = schema["extraArgs"]["description"]
        return {
            "engines": {
                name: {"image": f"{p['image']['repository']}:{p['image']['tag']}".strip(":")}
                for name, p in presets.items()
            },
            "profiles": {n: p for n, p in chart.gpu_profiles().items() if p.get("memoryMiB")},
            "settings": described,
            "tradeoffs": tradeoffs(),
            "catalog": self.catalog,
            "catalog_view": {
                n: {"source": e.source, "revision": e.revision or "", "notes": e.notes}
                for n, e in self.catalog.items()
            },
            "current": [str(p) for p in self.current_paths],
            "quantizations": sorted(size.QUANT_BYTES),
        }


def tradeoffs() -> dict[str, str]:
    """The form's one-line trade-off per setting (ui/tradeoffs.yaml)."""
    data: dict[str, str] = _yaml.load((Path(__file__).parent / "tradeoffs.yaml").read_text())
    return data


def engine_flags(engine: str) -> dict[str, Any]:
    """The engine's flag catalog as the page lists it, with help lines (empty without a catalog)."""
    preset = chart.engine_presets().get(engine) or {}
    name = preset.get("catalog")
    if not name:
        return {"version": "", "flags": []}
    data = flags.catalog(name)
    helps = flags.help_lines(name)
    keep = ("name", "aliases", "type", "choices", "negatable", "deprecated")
    return {
        "version": f"{data['engine']} {data['version']}",
        "flags": [
            {**{k: f.get(k) for k in keep}, "help": helps.get(f["name"], "")} for f in data["flags"]
        ],
    }


def _model(config: Path) -> size.Model:
    return size.load_model(config)


def describe(model: size.Model, values: Mapping[str, Any]) -> dict[str, Any]:
    """What sizing knows of the model: parameters, weights per dtype, KV per token, context."""
    settings = values["settings"]
    report = size.report(
        model,
        fraction=float(settings.get("gpuMemoryFraction") or size.DEFAULT_FRACTION),
        context=settings.get("maxContextLength"),
        quantization=settings.get("quantization"),
    )
    stored = model.quantization[0] if model.quantization else model.dtype
    weights = [{"label": f"checkpoint ({stored})", "bytes": size.weight_bytes(model)}]
    weights += [{"label": label, "bytes": size.weight_bytes(model, q)} for q, label in QUANTIZED]
    return {
        "name": model.name,
        "parameters": report["parameters"],
        "weights": weights,
        "weightsFrom": report["weightsFrom"],
        "kvBytesPerToken": report["kvBytesPerToken"],
        "attention": report["kvLayout"]["attention"],
        "maxContext": model.max_context,
        "context": report["maxContext"],
    }


def picture(
    model: size.Model,
    values: Mapping[str, Any],
    known: Mapping[str, Mapping[str, Any]],
    concurrency: int,
) -> list[dict[str, Any]]:
    """Per GPU profile with memory: each GPU's memory by use, and the fit check's verdict."""
    settings, count = values["settings"], int(values["gpus"]["count"]) or 1
    fraction = float(settings.get("gpuMemoryFraction") or size.DEFAULT_FRACTION)
    context = int(settings.get("maxContextLength") or model.max_context)
    quantization = settings.get("quantization")
    rows = []
    for name, profile in known.items():
        mib = int(profile.get("memoryMiB") or 0)
        if not mib:
            continue
        use = size.usage(
            model,
            mib,
            fraction=fraction,
            context=context,
            concurrency=concurrency,
            quantization=quantization,
            tp=count,
        )
        holds = size.fit(
            model,
            name,
            mib,
            fraction=fraction,
            context=context,
            quantization=quantization,
            max_tp=count,
        ).max_concurrency
        reason = fit.reason(model, {**values, "gpus": {"count": count}}, profile)
        rows.append(
            {
                "profile": name,
                "chosen": name == values["gpus"].get("type"),
                "gpus": count,
                **dataclasses.asdict(use),
                "headroom": use.headroom,
                "fits": reason is None,
                "reason": reason or "",
                "holds": holds,
                "concurrency": concurrency,
                "context": context,
            }
        )
    return rows
