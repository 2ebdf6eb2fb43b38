"""Prove the gateway serves every name of the release: the chart's `helm test` hook.

It waits until /v1/models lists every canonical served name, sends one short request to each
served name and alias (a chat completion, a completion or an embedding, as its group serves),
and expects a 404 for a name nobody serves. It prints one line per check and exits 1 when any
check fails. The client key, if the gateway has one, comes from the CORRAL_API_KEY env var.

    python smoke.py --url http://GATEWAY --models '{"NAME": {"task": "chat", "aliases": []}}'
                    [--unknown NAME] [--wait 300] [--timeout 120]

Standard library only, so that it runs on a stock Python image.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

# What each task sends, and where.
REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "chat": (
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": "helm test"}], "max_tokens": 4},
    ),
    "completion": ("/v1/completions", {"prompt": "helm test", "max_tokens": 4}),
    "embedding": ("/v1/embeddings", {"input": "helm test"}),
}


def call(
    url: str, key: str, body: dict[str, Any] | None, timeout: float
) -> tuple[int, dict[str, Any]]:
    """One request: (HTTP status, the JSON object answered, {} when it is not one)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, text = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return status, parsed if isinstance(parsed, dict) else {}


def answered(task: str, body: dict[str, Any]) -> bool:
    """Whether body is the OpenAI answer a task expects."""
    try:
        if task == "embedding":
            return len(body["data"][0]["embedding"]) > 0
        choice = body["choices"][0]
        if task == "chat":
            return isinstance(choice["message"], dict)
        return isinstance(choice["text"], str)
    except (KeyError, IndexError, TypeError):
        return False


class Checks:
    """Prints one line per check and remembers whether any failed."""

    def __init__(self) -> None:
        self.failed = 0

    def report(self, ok: bool, what: str, detail: str) -> None:
        """Print the check's line."""
        self.failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {what}: {detail}", flush=True)


def listed(base: str, key: str, wanted: set[str], wait: float, timeout: float) -> tuple[bool, str]:
    """Poll /v1/models until it lists every wanted name or wait runs out; (ok, detail)."""
    deadline = time.monotonic() + wait
    while True:
        status = 0
        try:
            status, body = call(base + "/v1/models", key, None, timeout)
            ids = {str(m.get("id")) for m in body.get("data", []) if isinstance(m, dict)}
            missing, detail = wanted - ids, f"HTTP {status}"
        except OSError as err:
            missing, detail = wanted, str(err)
        if status == 200 and not missing:
            return True, f"lists {', '.join(sorted(wanted))}"
        if time.monotonic() >= deadline:
            if status == 200:
                return False, f"{', '.join(sorted(missing))} not listed after {wait:g} s"
            return False, f"{detail} after {wait:g} s"
        time.sleep(2)


def run(args: argparse.Namespace) -> int:
    """Every check in turn; the exit status."""
    base, key = args.url.rstrip("/"), os.environ.get("CORRAL_API_KEY", "")
    models: dict[str, dict[str, Any]] = json.loads(args.models)
    checks = Checks()
    ok, detail = listed(base, key, set(models), args.wait, args.timeout)
    checks.report(ok, "GET /v1/models", detail)
    for name, group in models.items():
        task = str(group.get("task", "chat"))
        path, body = REQUESTS[task]
        for served in [name, *group.get("aliases", [])]:
            start = time.monotonic()
            try:
                status, answer = call(base + path, key, {**body, "model": served}, args.timeout)
                ok = status == 200 and answered(task, answer)
                detail = f"HTTP {status} in {time.monotonic() - start:.2f} s"
            except OSError as err:
                ok, detail = False, str(err)
            checks.report(ok, f"{task} {served}", detail)
    path, body = REQUESTS["chat"]
    try:
        status, _ = call(base + path, key, {**body, "model": args.unknown}, args.timeout)
        ok, detail = status == 404, f"HTTP {status}, 404 expected"
    except OSError as err:
        ok, detail = False, str(err)
    checks.report(ok, f"unknown {args.unknown}", detail)
    print(f"{checks.failed} of the checks failed" if checks.failed else "every check passed")
    return 1 if checks.failed else 0


def main() -> None:
    """Parse the arguments and run the checks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the gateway's base URL")
    parser.add_argument("--models", required=True, help="JSON: name -> {task, aliases}")
    parser.add_argument("--unknown", default="corral-helm-test-unknown-model")
    parser.add_argument("--wait", type=float, default=300, help="seconds for /v1/models")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per request")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
