"""The release kit for tests: `make package` into a temporary folder, the wheel installed into a
fresh venv outside the checkout, and an OCI registry (CNCF distribution, TLS) on 127.0.0.1.

Each is made once per session, on first use, and the registry is stopped even when a test fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VERSION = (ROOT / "VERSION").read_text().strip()
TOOLS = ROOT / ".tools" / "bin"
REGISTRY_BIN = TOOLS / "registry"
BASE_PATH = "/usr/bin:/bin"


@dataclass(frozen=True)
class Dist:
    """What `make package` wrote."""

    path: Path

    @property
    def chart(self) -> Path:
        """The packaged chart."""
        return self.path / f"corral-{VERSION}.tgz"

    @property
    def wheel(self) -> Path:
        """The wheel (built from the sdist)."""
        return self.path / f"corral-{VERSION}-py3-none-any.whl"

    @property
    def sdist(self) -> Path:
        """The source distribution."""
        return self.path / f"corral-{VERSION}.tar.gz"

    def chart_files(self) -> dict[str, bytes]:
        """Every file of the packaged chart by its path inside the chart."""
        with tarfile.open(self.chart) as archive:
            return {
                m.name.removeprefix("corral/"): archive.extractfile(m).read()  # type: ignore[union-attr]
                for m in archive.getmembers()
                if m.isfile()
            }


def make(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> str:
    """A make target; its output, or the test fails with it."""
    done = subprocess.run(
        ["make", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def checkout_copy(folder: Path) -> Path:
    """The checkout's tracked files (as they are now), with its .tools and .venv linked in."""
    copy = folder / "corral"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    for name in filter(None, tracked.split("\0")):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    for link in (".tools", ".venv"):
        (copy / link).symlink_to((ROOT / link).resolve())
    return copy


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """`make package` into a temporary DIST."""
    path = tmp_path_factory.mktemp("dist")
    make("package", f"DIST={path}")
    return Dist(path)


@pytest.fixture(scope="session")
def venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the checkout with the wheel and its dependencies (pinned as in .venv)."""
    home = tmp_path_factory.mktemp("outside")
    constraints = home / "constraints.txt"
    freeze = [sys.executable, "-m", "pip", "freeze", "--exclude-editable"]
    constraints.write_text(
        subprocess.run(freeze, capture_output=True, text=True, check=True).stdout
    )
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [
        str(venv / "bin" / "pip"),
        "install",
        "--quiet",
        "--no-compile",
        "--disable-pip-version-check",
    ]
    subprocess.run(
        [*pip, "-c", str(constraints), str(dist.wheel)], check=True, timeout=900, cwd=home
    )
    return venv


@dataclass(frozen=True)
class Registry:
    """A running registry: its host:port and the environment Helm needs to trust and use it."""

    host: str
    env: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """CNCF distribution serving TLS on 127.0.0.1 with a throwaway certificate Helm trusts."""
    home = tmp_path_factory.mktemp("registry")
    cert, key = home / "cert.pem", home / "key.pem"
    key_type = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"]
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        ["openssl", "req", "-x509", *key_type, *subject, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = _free_port()
    config = home / "config.yml"
    config.write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {home / 'data'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}', tls: {{certificate: {cert}, key: {key}}}}}\n"
    )
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "none"}
    proc = subprocess.Popen(
        [str(REGISTRY_BIN), "serve", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_up(f"https://127.0.0.1:{port}/v2/", ssl.create_default_context(cafile=cert))
        helm_env = {
            # Helm (Go) takes its roots from SSL_CERT_FILE; its own homes stay in the test folder.
            "SSL_CERT_FILE": str(cert),
            "HELM_REGISTRY_CONFIG": str(home / "helm" / "registry.json"),
            "HELM_CACHE_HOME": str(home / "helm" / "cache"),
            "HELM_CONFIG_HOME": str(home / "helm" / "config"),
        }
        yield Registry(f"127.0.0.1:{port}", helm_env)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_until_up(url: str, context: ssl.SSLContext) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, context=context, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the registry did not answer {url} within 30 s")
