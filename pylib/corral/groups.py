"""Model groups resolved the way chart/templates/_groups.tpl resolves them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from corral import chart
from corral.values import overlay


@dataclass(frozen=True)
class Group:
    """One enabled model group with its defaults, preset and GPU profile applied."""

    name: str
    values: dict[str, Any]
    preset: dict[str, Any] | None
    profiles: dict[str, dict[str, Any]]

    @property
    def path(self) -> str:
        """The group's values path, as messages name it."""
        return f"modelGroups.{self.name}"

    @property
    def engine(self) -> str:
        """The engine name as written."""
        return str(self.values.get("engine"))

    @property
    def served_name(self) -> str:
        """The canonical served name."""
        return str(self.values.get("servedName") or self.name)

    @property
    def aliases(self) -> list[str]:
        """Extra names clients may use."""
        return [str(a) for a in self.values.get("aliases") or []]

    @property
    def model_source(self) -> str:
        """hf, s3, pvc or image."""
        model = str(self.values.get("model", ""))
        for scheme in ("hf", "s3", "pvc"):
            if model.startswith(f"{scheme}://"):
                return scheme
        return "image"

    @property
    def downloads(self) -> bool:
        """True when an init container fetches the hf:// or s3:// model into the cache."""
        return bool(
            self.values["download"]["enabled"]
            and self.model_source in ("hf", "s3")
            and self.values["cache"]["type"] != "none"
        )

    @property
    def adapters(self) -> list[dict[str, Any]]:
        """The LoRA adapters as written."""
        return [dict(a) for a in self.values.get("adapters") or []]

    @property
    def caches_downloads(self) -> bool:
        """True when hf:// repositories (the model, adapters) can be fetched into the cache."""
        return bool(self.values["download"]["enabled"] and self.values["cache"]["type"] != "none")

    @property
    def image_tag(self) -> str:
        """The image tag in force: the group's, else the preset's."""
        preset_tag = (self.preset or {}).get("image", {}).get("tag", "")
        return str(self.values.get("image", {}).get("tag") or preset_tag)


def profiles(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The chart's GPU profiles with the gpuProfiles value over them.

    MIG slices are resolved for the migStrategy value, as corral.groups.profiles does.
    """
    known = overlay(chart.gpu_profiles(), values.get("gpuProfiles") or {})
    strategy = values.get("migStrategy", "mixed")
    return {name: _mig(profile, strategy) for name, profile in known.items()}


def _mig(profile: dict[str, Any], strategy: str) -> dict[str, Any]:
    """A MIG profile's resource and product label under the strategy; others as they are."""
    slice_ = profile.get("mig")
    if not slice_:
        return profile
    if strategy == "single":
        product = profile.get("product")
        return {
            **profile,
            "resourceName": profile.get("resourceName") or "nvidia.com/gpu",
            "product": f"{product}-MIG-{slice_}" if product else product,
        }
    return {**profile, "resourceName": profile.get("resourceName") or f"nvidia.com/mig-{slice_}"}


def enabled(values: Mapping[str, Any]) -> list[Group]:
    """Every enabled group of a full (chart-defaults-merged) values map, in name order."""
    known = profiles(values)
    presets = chart.engine_presets()
    groups = []
    for name in sorted(values.get("modelGroups") or {}):
        raw = values["modelGroups"][name] or {}
        merged = overlay(values["modelGroupDefaults"], raw)
        if not merged.get("enabled"):
            continue
        groups.append(Group(name, merged, presets.get(str(merged.get("engine"))), known))
    return groups
