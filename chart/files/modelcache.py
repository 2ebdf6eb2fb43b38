"""Corral's model cache: fetch once, hold while used, keep a node's root under its budget.

Standard library only; the chart ships it in a ConfigMap. Commands:

  fetch  download s3:// (rclone) or hf:// (the hf CLI) into <root>/<dir>: one download per model
         at a time (a lock; the next pod waits), into a partial directory renamed into place only
         when complete and verified; pinned ETags are checked against the store first.
  hold   keep a model marked in use (a shared lock) for as long as the process lives.
  agent  evict least-recently-used models no process holds while the root is over its budget,
         preload models, and serve Prometheus metrics.

Layout under the root: <dir> (the models), .corral/index/<id>.json (complete models),
.corral/locks/<id>.lock (download lock), .corral/locks/<id>.use (use lock; mtime = last use),
.corral/partial/<id> (downloads in progress), .corral/events.jsonl (hits, misses, seconds).
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import hashlib
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, NoReturn

NO_SPACE = "no space left on device; free space on the node or lower the cache budget"


class FetchError(Exception):
    """A failure that ends a fetch with one line."""


class DiskFull(FetchError):
    """The root has no room for the model: the fetch keeps no partial directory."""


def model_id(rel: str) -> str:
    """Short stable id of a model directory (names its locks, index entry and partial dir)."""
    return hashlib.sha256(rel.strip("/").encode()).hexdigest()[:16]


class Root:
    """A cache root and its bookkeeping directory."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.state = self.path / ".corral"
        for sub in ("index", "locks", "partial", "trash"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)

    def lock(self, mid: str, kind: str) -> Path:
        """A model's lock file: "lock" (download) or "use" (holds)."""
        return self.state / "locks" / f"{mid}.{kind}"

    def index(self, mid: str) -> Path:
        """A model's index entry (present once it is complete)."""
        return self.state / "index" / f"{mid}.json"

    def complete(self, rel: str) -> bool:
        """A model is complete when its index entry and its directory both exist."""
        return self.index(model_id(rel)).is_file() and (self.path / rel).is_dir()

    def event(self, **fields: Any) -> None:
        """Append a hit or miss for the agent's metrics."""
        line = json.dumps({"time": time.time(), **fields}) + "\n"
        with open(self.state / "events.jsonl", "a", encoding="utf-8") as out:
            out.write(line)


@contextmanager
def flocked(path: Path, mode: int) -> Iterator[bool]:
    """Hold flock(mode) on path; yields False when LOCK_NB was asked and someone else holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o664)
    try:
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def tree_bytes(path: Path) -> int:
    """Bytes of every regular file under path."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with suppress(FileNotFoundError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


# --- sources ---------------------------------------------------------------------------------


def rclone_remote(source: str) -> str:
    """s3://bucket/prefix as rclone's on-the-fly remote (configured by RCLONE_S3_* variables)."""
    return ":s3:" + source.removeprefix("s3://").strip("/")


def rclone_error(stderr: str, source: str) -> FetchError:
    """The one line a failed rclone run comes to."""
    text = stderr.lower()
    if "no space left on device" in text:
        return DiskFull(f"{source}: {NO_SPACE}")
    for marker in ("invalidaccesskeyid", "signaturedoesnotmatch", "accessdenied", "403"):
        if marker in text:
            return FetchError(
                f"{source}: the store refused the credentials ({marker}); "
                "check the Secret's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
    if "nosuchbucket" in text or "directory not found" in text:
        return FetchError(f"{source}: no such bucket or prefix; check the model's URL")
    lines = [ln for ln in stderr.splitlines() if "ERROR" in ln or "Failed" in ln]
    return FetchError(f"{source}: download failed: {(lines or stderr.splitlines() or ['?'])[-1]}")


def s3_listing(rclone: str, source: str) -> dict[str, dict[str, Any]]:
    """Every object under the source: key (relative) -> size and md5 (the single-part ETag)."""
    cmd = [rclone, "lsjson", "--recursive", "--files-only", "--hash", rclone_remote(source)]
    run = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise rclone_error(run.stderr, source)
    objects = {
        o["Path"]: {"size": int(o["Size"]), "md5": (o.get("Hashes") or {}).get("md5", "")}
        for o in json.loads(run.stdout or "[]")
    }
    if not objects:
        raise FetchError(f"{source}: no objects under this prefix; check the model's URL")
    return objects


def check_pins(listing: dict[str, dict[str, Any]], pins: dict[str, str], source: str) -> None:
    """Refuse when the store disagrees with the pinned manifest."""
    for key, etag in sorted(pins.items()):
        if key not in listing:
            raise FetchError(f"{source}/{key}: pinned object is missing from the store; re-pin")
        found = listing[key]["md5"]
        if found != etag.strip('"'):
            raise FetchError(
                f"{source}/{key}: the store's ETag {found or 'none'!r} differs from the pinned "
                f"{etag!r}; the object changed: re-pin it or restore it"
            )


def verify(partial: Path, listing: dict[str, dict[str, Any]], source: str) -> None:
    """Every listed object is there at its size (rclone checked each md5 on transfer)."""
    for key, obj in sorted(listing.items()):
        path = partial / key
        size = path.stat().st_size if path.is_file() else None
        if size != obj["size"]:
            raise FetchError(f"{source}/{key}: {size} bytes on disk, {obj['size']} in the store")


def download(args: argparse.Namespace, partial: Path) -> int:
    """Bring the source into partial (resuming what a killed attempt left); the bytes listed."""
    source = args.source
    if source.startswith("hf://"):
        cmd = ["hf", "download", source.removeprefix("hf://"), "--local-dir", str(partial)]
        if args.revision:
            cmd += ["--revision", args.revision]
        run = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            tail = (run.stderr.strip().splitlines() or ["?"])[-1]
            if "no space left" in run.stderr.lower():
                raise DiskFull(f"{source}: {NO_SPACE}")
            raise FetchError(f"{source}: hf download failed: {tail}")
        return tree_bytes(partial)
    listing = s3_listing(args.rclone, source)
    check_pins(listing, dict(p.split("=", 1) for p in args.pin), source)
    need = sum(o["size"] for o in listing.values()) - tree_bytes(partial)
    free = shutil.disk_usage(partial).free
    if need > free:
        raise DiskFull(
            f"{source}: needs {need} more bytes, {free} free under {args.root}; "
            "free space on the node or lower the cache budget"
        )
    # copy skips files already complete (size and modification time), so a retry resumes.
    cmd = [args.rclone, "copy", "--retries", "1", rclone_remote(source), str(partial)]
    run = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise rclone_error(run.stderr, source)
    verify(partial, listing, source)
    return sum(o["size"] for o in listing.values())


def fetch(args: argparse.Namespace) -> None:
    """Make <root>/<dir> a complete copy of the source, downloading it at most once at a time."""
    root, rel = Root(args.root), args.dir.strip("/")
    mid, final = model_id(rel), root.path / rel
    started = time.monotonic()
    with flocked(root.lock(mid, "lock"), fcntl.LOCK_EX):
        if root.complete(rel):
            root.event(kind="hit", dir=rel)
            print(f"modelcache: {rel}: cached", flush=True)
            return
        partial = root.state / "partial" / mid
        partial.mkdir(exist_ok=True)
        try:
            size = download(args, partial)
            entry = {"dir": rel, "source": args.source, "bytes": size, "completed": time.time()}
            root.index(mid).write_text(json.dumps(entry), encoding="utf-8")
            if final.exists():  # a stale directory with no index entry (never a served model)
                shutil.rmtree(final)
            for attempt in range(3):  # the agent may remove an empty parent in between
                final.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.rename(partial, final)
                    break
                except FileNotFoundError:
                    if attempt == 2:
                        raise
        except OSError as err:
            if err.errno != errno.ENOSPC:
                raise
            shutil.rmtree(partial, ignore_errors=True)
            root.index(mid).unlink(missing_ok=True)
            raise DiskFull(f"{args.source}: {NO_SPACE}") from err
        except DiskFull:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        seconds = time.monotonic() - started
        root.event(kind="miss", dir=rel, seconds=seconds, bytes=size)
        print(f"modelcache: {rel}: downloaded {size} bytes in {seconds:.1f}s", flush=True)


def hold(args: argparse.Namespace) -> None:
    """Mark a model in use until SIGTERM: the agent never evicts a model someone holds."""
    root = Root(args.root)
    use = root.lock(model_id(args.dir), "use")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with flocked(use, fcntl.LOCK_SH):
        os.utime(use)
        if args.ready:
            Path(args.ready).write_text("held\n", encoding="utf-8")
        while True:
            time.sleep(3600)


# --- agent -----------------------------------------------------------------------------------


class Agent:
    """Budget keeper, preloader and metrics of one node's cache root."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.root = Root(args.root)
        self.budget = int(args.budget)
        self.args = args
        self.evictions = 0
        self.hits = 0
        self.misses = 0
        self.download_seconds = 0.0
        self.events_read = 0
        self.models: list[dict[str, Any]] = []
        self.used = 0
        self.stuck = False
        self.lock = threading.Lock()

    def in_use(self, mid: str) -> bool:
        """True while a hold (shared lock) exists; records the use as the model's last use."""
        use = self.root.lock(mid, "use")
        if not use.exists():  # never held (a hold creates it)
            return False
        with flocked(use, fcntl.LOCK_EX | fcntl.LOCK_NB) as free:
            if not free:
                os.utime(use)
            return not free

    def scan(self) -> None:
        """Read new events, list complete models, measure the root."""
        events = self.root.state / "events.jsonl"
        if events.exists():
            with open(events, encoding="utf-8") as src:
                src.seek(self.events_read)
                for line in src:
                    if not line.endswith("\n"):
                        break
                    self.events_read += len(line.encode())
                    event = json.loads(line)
                    if event["kind"] == "hit":
                        self.hits += 1
                    elif event["kind"] == "miss":
                        self.misses += 1
                        self.download_seconds += float(event["seconds"])
        models = []
        for entry_path in sorted((self.root.state / "index").glob("*.json")):
            mid = entry_path.stem
            entry = json.loads(entry_path.read_text(encoding="utf-8"))
            if not (self.root.path / entry["dir"]).is_dir():
                continue
            use = self.root.lock(mid, "use")
            busy = self.in_use(mid)
            last = max(use.stat().st_mtime if use.exists() else 0, entry["completed"])
            models.append({"id": mid, **entry, "in_use": busy, "last_used": last})
        used = tree_bytes(self.root.state / "partial")
        for child in self.root.path.iterdir():
            if child.name != ".corral":
                used += tree_bytes(child) if child.is_dir() else child.lstat().st_size
        with self.lock:
            self.models = models
            self.used = used

    def evict_one(self) -> bool:
        """Evict the least recently used model nobody holds or downloads; False if none can go."""
        for model in sorted(self.models, key=lambda m: m["last_used"]):
            mid = model["id"]
            with flocked(self.root.lock(mid, "lock"), fcntl.LOCK_EX | fcntl.LOCK_NB) as idle:
                if not idle:
                    continue
                with flocked(self.root.lock(mid, "use"), fcntl.LOCK_EX | fcntl.LOCK_NB) as free:
                    if not free:
                        continue
                    self.root.index(mid).unlink(missing_ok=True)
                    trash = self.root.state / "trash" / f"{mid}-{time.time_ns()}"
                    os.rename(self.root.path / model["dir"], trash)
            shutil.rmtree(trash, ignore_errors=True)
            parent = (self.root.path / model["dir"]).parent
            while parent != self.root.path and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
            self.evictions += 1
            print(f"modelcache: evicted {model['dir']} ({model['bytes']} bytes)", flush=True)
            return True
        return False

    def enforce(self) -> None:
        """Evict until the root fits its budget or no model left can go (said once)."""
        self.scan()
        while self.used > self.budget:
            if not self.evict_one():
                if not self.stuck:
                    print(
                        f"modelcache: {self.used} bytes used, over the budget of {self.budget}; "
                        "every model left is in use or downloading",
                        flush=True,
                    )
                self.stuck = True
                return
            self.scan()
        self.stuck = False

    def preload(self) -> None:
        """Fetch every preload entry ({"dir", "source", "pins"}) not already complete."""
        for item in self.args.preload:
            entry = json.loads(item)
            if self.root.complete(entry["dir"]):
                continue
            pins = [f"{key}={etag}" for key, etag in sorted(entry.get("pins", {}).items())]
            fetch_args = argparse.Namespace(
                root=self.args.root,
                dir=entry["dir"],
                source=entry["source"],
                revision="",
                pin=pins,
                rclone=self.args.rclone,
            )
            try:
                fetch(fetch_args)
            except FetchError as err:
                print(f"modelcache: preload: error: {err}", flush=True)

    def metrics(self) -> str:
        """Prometheus text exposition of the cache's state."""
        with self.lock:
            held = len(self.models)
            busy = sum(1 for m in self.models if m["in_use"])
            rows = [
                ("corral_cache_bytes", "gauge", "Bytes under the cache root.", self.used),
                (
                    "corral_cache_budget_bytes",
                    "gauge",
                    "Byte budget of the cache root.",
                    self.budget,
                ),
                ("corral_cache_models", "gauge", "Complete models held.", held),
                ("corral_cache_models_in_use", "gauge", "Models a running pod holds.", busy),
                ("corral_cache_hits_total", "counter", "Fetches served from the cache.", self.hits),
                ("corral_cache_misses_total", "counter", "Fetches that downloaded.", self.misses),
                ("corral_cache_evictions_total", "counter", "Models evicted.", self.evictions),
                (
                    "corral_cache_download_seconds_total",
                    "counter",
                    "Seconds spent downloading models.",
                    self.download_seconds,
                ),
            ]
        out = []
        for name, kind, help_text, value in rows:
            base = name.removesuffix("_total")
            out += [f"# HELP {base} {help_text}", f"# TYPE {base} {kind}", f"{name} {value}"]
        return "\n".join(out) + "\n"

    def serve(self) -> None:
        """Serve /metrics and /health on the port in a thread."""
        agent = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = agent.metrics().encode() if self.path == "/metrics" else b"ok\n"
                if self.path not in ("/metrics", "/health"):
                    self.send_response(404)
                    body = b"not found\n"
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer((self.args.host, int(self.args.port)), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def run(self) -> NoReturn:
        """Serve metrics, preload in the background, and enforce the budget every interval."""
        self.scan()
        self.serve()
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        threading.Thread(target=self.preload, daemon=True).start()
        while True:
            self.enforce()
            time.sleep(float(self.args.interval))


def main(argv: list[str] | None = None) -> int:
    """Run one command; a fetch failure is one line on stderr and exit code 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="download a model into the root once")
    f.add_argument("--root", required=True)
    f.add_argument("--dir", required=True, help="the model's directory, relative to the root")
    f.add_argument("--source", required=True, help="s3://bucket/prefix or hf://org/name")
    f.add_argument("--revision", default="", help="hf:// revision")
    f.add_argument("--pin", action="append", default=[], help="KEY=ETAG of a pinned object")
    f.add_argument("--rclone", default="rclone")
    h = sub.add_parser("hold", help="mark a model in use while running")
    h.add_argument("--root", required=True)
    h.add_argument("--dir", required=True)
    h.add_argument("--ready", default="", help="file written once the model is held")
    a = sub.add_parser("agent", help="keep the root under budget, preload, serve metrics")
    a.add_argument("--root", required=True)
    a.add_argument("--budget", required=True, help="bytes")
    a.add_argument("--host", default="0.0.0.0")
    a.add_argument("--port", default="9400")
    a.add_argument("--interval", default="30", help="seconds between budget checks")
    a.add_argument("--preload", action="append", default=[], help='{"dir", "source", "pins"}')
    a.add_argument("--rclone", default="rclone")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            fetch(args)
        elif args.command == "hold":
            hold(args)
        else:
            Agent(args).run()
    except FetchError as err:
        print(f"modelcache: error: {err}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
