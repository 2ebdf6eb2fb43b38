"""The object-store test kit: a real S3 server on loopback (moto's, from its own venv under
.tools/moto) with an IAM user, the real rclone (`make setup` builds both), and the chart's
rendered download init container run on this machine with the pod's paths replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT, render
from loopback import free_port, processes
from prom import only, require

SCRIPT = ROOT / "chart" / "files" / "modelcache.py"
RCLONE = ROOT / ".tools" / "bin" / "rclone"
MOTO = ROOT / ".tools" / "moto" / "bin"
MOUNT = "/models-cache"
BUCKET = "weights"
NO_SPACE = "no space left on device; free space on the node or lower the cache budget"
# Run in moto's own venv (ci/setup-s3.sh): the first three calls, which moto lets through
# unauthenticated, make an IAM user allowed everything; from then on the server checks keys.
SETUP_CALLS = 3
MAKE_USER = """
import json, sys
import boto3
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="setup", aws_secret_access_key="setup")
iam.create_user(UserName="corral")
allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
iam.put_user_policy(UserName="corral", PolicyName="all", PolicyDocument=json.dumps(allow))
key = iam.create_access_key(UserName="corral")["AccessKey"]
print(json.dumps({"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                  "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}))
"""


@dataclass
class Store:
    """The loopback S3 server, rclone's settings for it with good credentials, the server's log."""

    url: str
    creds: dict[str, str]
    env: dict[str, str]
    log: Path
    scratch: Path

    def put(self, key: str, body: bytes) -> str:
        """Store an object with rclone; its ETag (the md5 of a single-part upload)."""
        src = self.scratch / "upload"
        src.write_bytes(body)
        subprocess.run(
            [str(require(RCLONE)), "copyto", str(src), f":s3:{BUCKET}/{key}"],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        return md5(src)

    def put_dir(self, prefix: str, directory: Path) -> None:
        """Store every file under directory below the prefix, with rclone."""
        dest = f":s3:{BUCKET}/{prefix}"
        subprocess.run(
            [str(require(RCLONE)), "copy", str(directory), dest],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=300,
        )

    def gets(self, key: str) -> int:
        """GET requests the server has seen for the object."""
        return self.log.read_text().count(f"GET /{BUCKET}/{key}?")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    port = free_port()
    scratch = tmp_path_factory.mktemp("moto")
    log = scratch / "server.log"
    if not (MOTO / "moto_server").exists():
        pytest.fail(".tools/moto is missing: run `make setup` (ci/setup-s3.sh)")
    server_env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_CALLS)}
    with processes() as procs, open(log, "w") as out:
        procs.append(
            subprocess.Popen(
                [str(MOTO / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=server_env,
            )
        )
        url = f"http://127.0.0.1:{port}"
        wait(lambda: urllib.request.urlopen(f"{url}/moto-api/", timeout=2))
        user = subprocess.run(
            [str(MOTO / "python"), "-c", MAKE_USER, url],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        creds = json.loads(user.stdout)
        env = {
            **os.environ,
            **creds,
            "RCLONE_S3_PROVIDER": "Other",
            "RCLONE_S3_ENDPOINT": url,
            "RCLONE_S3_REGION": "us-east-1",
            "RCLONE_S3_FORCE_PATH_STYLE": "true",
            "RCLONE_S3_ENV_AUTH": "true",
            "RCLONE_CONFIG": str(scratch / "rclone.conf"),
        }
        subprocess.run(
            [str(require(RCLONE)), "mkdir", f":s3:{BUCKET}"],
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield Store(url, creds, env, log, scratch)


def wait(probe: Any, timeout: float = 30) -> None:
    """Call probe until it stops raising OSError or StopIteration (not there yet), or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            probe()
            return
        except (OSError, StopIteration):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def rendered(
    store: Store, model: str, pins: dict[str, str] | None = None, cache: str = "node"
) -> tuple[list[str], dict[str, str], dict[str, Any]]:
    """The download init container's command and env as the chart renders them, and the docs."""
    sets = [
        "modelGroups.m.engine=vllm",
        f"modelGroups.m.model={model}",
        f"modelGroups.m.cache.type={cache}",
        "objectStore.provider=Other",
        f"objectStore.endpoint={store.url}",
        "objectStore.pathStyle=true",
        "objectStore.credentials.existingSecret=s3-creds",
    ]
    sets += [
        f"modelGroups.m.pins.{k.replace('.', chr(92) + '.')}={v}" for k, v in (pins or {}).items()
    ]
    docs = render(sets=sets)
    pod = only(docs, "Deployment", "llm-corral-m")["spec"]["template"]["spec"]
    init = {c["name"]: c for c in pod["initContainers"]}
    env = {}
    for item in init["download"]["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        elif item["name"] in store.creds:  # a secretKeyRef: the Secret's value
            env[item["name"]] = store.creds[item["name"]]
    return init["download"]["command"], env, {"pod": pod, "docs": docs}


def localize(cmd: list[str], root: Path) -> list[str]:
    """The pod's command with its paths on this machine (its /run/corral next to the root)."""
    swap = {
        "python3": sys.executable,
        "/corral/modelcache.py": str(SCRIPT),
        MOUNT: str(root),
        "/run/corral/rclone": str(require(RCLONE)),
    }
    run_dir = root.parent / "run"
    return [swap.get(a, a.replace("/run/corral/", f"{run_dir}/")) for a in cmd]


def run_fetch(cmd: list[str], env: dict[str, str], root: Path, **kw: Any) -> subprocess.Popen[str]:
    full = {**os.environ, **env, "RCLONE_CONFIG": str(root.parent / "rclone.conf")}
    return subprocess.Popen(
        localize(cmd, root),
        env=full,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        **kw,
    )


def fetched(cmd: list[str], env: dict[str, str], root: Path) -> subprocess.CompletedProcess[str]:
    proc = run_fetch(cmd, env, root)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def upload_model(store: Store, prefix: str, files: dict[str, bytes]) -> dict[str, str]:
    return {name: store.put(f"{prefix}/{name}", body) for name, body in files.items()}


def model_dir(cmd: list[str], root: Path) -> Path:
    return root / cmd[cmd.index("--dir") + 1]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()
