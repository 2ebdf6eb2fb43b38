"""The released artifacts: `make package`'s chart, wheel and sdist, and the wheel at work outside
the checkout (a fresh venv, another folder, Helm found on the PATH or through CORRAL_HELM)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import yaml

from conftest import CHART, ROOT, corral
from shipping import BASE_PATH, TOOLS, VERSION, Dist

CONFIG = ROOT / "tests" / "fixtures" / "configs" / "llama-3.1-8b" / "config.json"


def wheel_files(wheel: Path, prefix: str = "") -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {
            name.removeprefix(prefix): archive.read(name)
            for name in archive.namelist()
            if name.startswith(prefix)
        }


def test_every_version_comes_from_the_version_file(dist: Dist) -> None:
    assert (ROOT / "VERSION").read_text().strip() == VERSION
    packaged = yaml.safe_load(dist.chart_files()["Chart.yaml"])
    assert (packaged["version"], packaged["appVersion"]) == (VERSION, VERSION)
    bundled = yaml.safe_load(wheel_files(dist.wheel)["corral/chart/Chart.yaml"])
    assert (bundled["version"], bundled["appVersion"]) == (VERSION, VERSION)
    metadata = wheel_files(dist.wheel)[f"corral-{VERSION}.dist-info/METADATA"].decode()
    assert f"\nVersion: {VERSION}\n" in metadata
    assert dist.sdist.exists()
    # In Git both stay 0.0.0, so golden renders do not change with a release.
    in_git = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert (in_git["version"], in_git["appVersion"]) == ("0.0.0", "0.0.0")


def test_the_wheel_carries_the_packaged_chart(dist: Dist) -> None:
    packaged, bundled = dist.chart_files(), wheel_files(dist.wheel, "corral/chart/")
    assert sorted(bundled) == sorted(packaged)
    assert not [p for p in bundled if p.startswith("tests/") or p.endswith(".gotmpl")]
    for path, content in packaged.items():
        if path == "Chart.yaml":  # helm package writes its own YAML of the same metadata
            assert yaml.safe_load(bundled[path]) == yaml.safe_load(content)
        else:
            assert bundled[path] == content, path


def test_the_sdist_builds_the_same_wheel(dist: Dist, tmp_path: Path) -> None:
    """make package builds the wheel from the sdist; built from the tree it is the same."""
    build = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path)]
    subprocess.run([*build, str(ROOT)], check=True, capture_output=True, timeout=300)
    from_tree = wheel_files(tmp_path / dist.wheel.name)
    assert from_tree == wheel_files(dist.wheel)


def outside(
    venv: Path, cwd: Path, *args: str, path: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """The installed corral, run from a folder outside the checkout."""
    return subprocess.run(
        [str(venv / "bin" / "corral"), *args],
        cwd=cwd,
        env={"PATH": path, "HOME": str(cwd), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_installed_wheel_works_outside_the_checkout(venv: Path, tmp_path: Path) -> None:
    shutil.copy(ROOT / "examples" / "single-vllm.yaml", tmp_path / "stack.yaml")
    shutil.copy(CONFIG, tmp_path / "config.json")
    path = f"{venv / 'bin'}:{TOOLS}:{BASE_PATH}"  # TOOLS has a helm: Helm on the PATH

    def run(*args: str) -> str:
        done = outside(venv, tmp_path, *args, path=path)
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
        return done.stdout

    site = next((venv / "lib").glob("python3.*")) / "site-packages"
    assert run("--version") == f"corral {VERSION}\nchart {VERSION} ({site / 'corral' / 'chart'})\n"
    run(
        "new",
        "--model",
        "hf://o/small",
        "--config",
        "config.json",
        "--gpu",
        "h100-80gb",
        "-f",
        "more.yaml",
    )
    assert run("check", "stack.yaml", "more.yaml") == "ok: stack.yaml, more.yaml\n"
    table = run("size", "config.json", "--gpu", "h100-80gb", "-o", "json")
    assert json.loads(table)["fits"][0]["tensor_parallel"] == 1
    docs = list(yaml.safe_load_all(run("render", "stack.yaml", "more.yaml")))
    engines = [
        d for d in docs if d["kind"] == "Deployment" and "-gateway" not in d["metadata"]["name"]
    ]
    assert len(engines) == 2
    assert {d["metadata"]["labels"]["helm.sh/chart"] for d in docs} == {f"corral-{VERSION}"}
    scaled = yaml.safe_load((tmp_path / "stack.yaml").read_text())
    scaled["modelGroups"]["llama-8b"].update(replicas=3, cache={"type": "emptyDir"})
    (tmp_path / "scaled.yaml").write_text(yaml.safe_dump(scaled))
    assert run("diff", "stack.yaml", "scaled.yaml").startswith("llama-8b: restart")
    # The library's own schemas ship in the wheel: the GPU inventory's, read by corral plan.
    shutil.copy(ROOT / "tests" / "fixtures" / "capacity" / "inventory.yaml", tmp_path)
    planned = run("plan", "stack.yaml", "--inventory", "inventory.yaml", "-o", "json")
    assert json.loads(planned)["pending"] == []
    # Built-in kinds validate anywhere; custom resources need a checkout's CRDs, and say so.
    assert run("render", "stack.yaml", "--validate", "--kube-version", "1.30")
    shutil.copy(ROOT / "examples" / "autoscaling.yaml", tmp_path)
    done = outside(venv, tmp_path, "render", "autoscaling.yaml", "--validate", path=path)
    assert (done.returncode, done.stderr) == (
        2,
        "corral: error: --validate: no schema for monitoring.coreos.com/v1 PodMonitor; custom "
        "resources are checked against the CRDs `make setup` puts in a checkout's .tools/crds\n",
    )


def test_the_installed_wheel_serves_the_ui_from_its_own_files(venv: Path, tmp_path: Path) -> None:
    ui = subprocess.Popen(
        [str(venv / "bin" / "corral"), "ui", "--port", "0"],
        cwd=tmp_path,
        env={"PATH": f"{venv / 'bin'}:{TOOLS}:{BASE_PATH}", "HOME": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert ui.stdout is not None
        url = ui.stdout.readline().split()[3]
        site = next((venv / "lib").glob("python3.*")) / "site-packages" / "corral" / "ui"
        for path, source in (
            ("", None),
            ("static/ui.js", "static/ui.js"),
            ("static/ui.css", "static/ui.css"),
        ):
            with urllib.request.urlopen(url + path, timeout=10) as answer:
                body = answer.read().decode()
            if source:
                assert body == (site / source).read_text()
            else:
                assert "Corral: compose a model group" in body
        request = urllib.request.Request(
            url + "api/evaluate",
            data=json.dumps({"model": "hf://o/small", "gpu_type": "h100-80gb"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert json.loads(answer.read())["problems"] == []
    finally:
        ui.terminate()
        ui.wait(timeout=10)


def test_without_helm_each_command_that_needs_it_says_so_in_one_line(
    venv: Path, tmp_path: Path
) -> None:
    shutil.copy(ROOT / "examples" / "single-vllm.yaml", tmp_path / "stack.yaml")
    bare = f"{venv / 'bin'}:{BASE_PATH}"
    assert outside(venv, tmp_path, "check", "stack.yaml", path=bare).returncode == 0
    for args in (["render", "stack.yaml"], ["diff", "stack.yaml", "stack.yaml"]):
        done = outside(venv, tmp_path, *args, path=bare)
        assert (done.returncode, done.stdout, done.stderr) == (
            2,
            "",
            "corral: error: helm not found on the PATH; install Helm 3 or 4, or set CORRAL_HELM\n",
        )
    wrong = outside(venv, tmp_path, "render", "stack.yaml", path=bare, CORRAL_HELM="/opt/no/helm")
    assert (wrong.returncode, wrong.stderr) == (
        2,
        "corral: error: CORRAL_HELM: /opt/no/helm is not an executable file\n",
    )
    helm3 = outside(
        venv, tmp_path, "render", "stack.yaml", path=bare, CORRAL_HELM=str(TOOLS / "helm3")
    )
    assert helm3.returncode == 0, helm3.stderr
    assert "kind: Deployment" in helm3.stdout


def test_a_checkout_reports_its_unstamped_chart() -> None:
    done = corral("--version")
    assert done.stdout == f"corral {VERSION}\nchart 0.0.0 ({CHART})\n"


def test_the_chart_names_its_default_images_for_hubs_and_scanners() -> None:
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())["annotations"]
    listed = {i["name"]: i["image"] for i in yaml.safe_load(meta["artifacthub.io/images"])}
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    expected = {
        "gateway": defaults["gateway"]["image"],
        "standby": defaults["scaleFromZero"]["image"],
    }
    for path in sorted((CHART / "presets" / "engines").glob("*.yaml")):
        image = yaml.safe_load(path.read_text())["image"]
        if image["repository"]:  # custom brings its own
            expected[path.stem] = image
    assert listed == {name: f"{i['repository']}:{i['tag']}" for name, i in expected.items()}
    assert meta["artifacthub.io/license"] == "Apache-2.0"
    links = {link["name"] for link in yaml.safe_load(meta["artifacthub.io/links"])}
    assert links == {"Source", "Values reference"}
