"""Validate rendered manifests offline, strictly, for a range of Kubernetes versions.

Built-in kinds use kubernetes-validate's schemas for each version; custom resources use their
CRDs from the pinned Go modules (corral.crds). Strict mode rejects unknown fields, so a misspelled
key in a template fails here rather than being silently dropped by the API server.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from corral.render import Manifests, validate


def versions(low: str, high: str) -> list[str]:
    """Every minor version from low to high, e.g. 1.30 .. 1.37."""
    major, first = (int(x) for x in low.split("."))
    _, last = (int(x) for x in high.split("."))
    return [f"{major}.{minor}.0" for minor in range(first, last + 1)]


def main() -> int:
    """Validate each file for each version; print one line per problem."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--min", required=True)
    parser.add_argument("--max", required=True)
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    failures = checked = 0
    for path in args.files:
        manifests = Manifests([d for d in yaml.safe_load_all(path.read_text()) if d])
        for version in versions(args.min, args.max):
            checked += len(manifests)
            for line in validate(manifests, version):
                failures += 1
                print(f"{path} (Kubernetes {version}): {line}")
    print(f"kube-validate: {checked} manifest checks, {failures} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
