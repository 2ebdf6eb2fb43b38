"""Validate rendered manifests offline against Kubernetes schemas, strict, for a range of versions.

Strict mode rejects unknown fields, so a misspelled key in a template fails here rather than
being silently dropped by the API server.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import kubernetes_validate
import yaml


def versions(low: str, high: str) -> list[str]:
    """Every minor version from low to high, e.g. 1.30 .. 1.37."""
    major, first = (int(x) for x in low.split("."))
    _, last = (int(x) for x in high.split("."))
    return [f"{major}.{minor}.0" for minor in range(first, last + 1)]


def main() -> int:
    """Validate each document of each file for each version; print one line per failure."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--min", required=True)
    parser.add_argument("--max", required=True)
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    failures = checked = 0
    for path in args.files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        for version in versions(args.min, args.max):
            for doc in docs:
                checked += 1
                try:
                    kubernetes_validate.validate(doc, version, strict=True)
                except kubernetes_validate.ValidationError as err:
                    failures += 1
                    name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
                    print(f"{path}: {name} (Kubernetes {version}): {err.message}")
    print(f"kube-validate: {checked} manifest checks, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
