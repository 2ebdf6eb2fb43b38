"""`corral demo`: the whole stack on this machine, answering real requests, until Ctrl-C.

It starts the local cluster (a real API server with simulated GPU nodes), installs the demo stack
with the chart, and brings its serving pods to life on their loopback addresses: each vLLM pod's
rendered engine command runs with vLLM's CPU build on the generated test model (the replacements
of corral.local), each standby pod runs the chart's standby script, and SMG runs with the
installed gateway's arguments and Kubernetes discovery. While it runs it does KEDA's part for a
group at zero: demand on its standby scales the group to one pod, the pod's engine starts, and a
relay stands in for the group's Service, so the standby hands over what it holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from corral import local, pods
from corral.check import coalesce
from corral.deploy import apply
from corral.errors import CorralError, ToolError
from corral.localcluster import LocalCluster, LocalSetup
from corral.models import ServedModel, served_models
from corral.relay import Relay
from corral.render import Manifests

RELEASE, NAMESPACE = "llm", "demo"
KEY_SECRET, KEY_FIELD = "demo-gateway-key", "api-key"
CLUSTER_NAME, CLUSTER_CIDR = "corral-demo", "127.4.0.0/16"
SERVICE_HOSTS = "127.5.0.{}"  # where a group's Service answers here (the relay)
POLL_SECONDS, PROGRESS_SECONDS = 1.0, 15.0


def cluster_of(setup: LocalSetup) -> LocalCluster:
    """The demo's own cluster, beside the test cluster (its own name, state and pod addresses)."""
    return LocalCluster(
        setup, CLUSTER_NAME, setup.root / ".tools" / "cluster" / "demo", CLUSTER_CIDR
    )


def _raw(response: Any) -> Any:
    """The JSON body of a kubernetes-client call made with _preload_content=False."""
    return json.loads(response.data)


@dataclass
class Sleeper:
    """A group at zero: its standby, the Service address the standby dials, and its Deployment."""

    group: str
    deployment: str
    pod: str  # the standby's
    standby: tuple[str, int]
    service: tuple[str, int]
    woken: bool = False


@dataclass
class Demo:
    """One run: what it started, in order, so that everything is stopped."""

    setup: LocalSetup
    cluster: LocalCluster
    values: Mapping[str, Any]
    port: int
    echo: Callable[[str], None]
    began: float = field(default_factory=time.monotonic)
    engines: list[tuple[local.Engine, subprocess.Popen[bytes]]] = field(default_factory=list)
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    relays: list[Relay] = field(default_factory=list)
    sleepers: list[Sleeper] = field(default_factory=list)
    key: str = field(default_factory=lambda: f"sk-demo-{secrets.token_hex(12)}")
    api: Any = None  # the cluster's API client, made on first use

    def say(self, text: str) -> None:
        """A progress line, stamped with the time since the demo began."""
        minutes, seconds = divmod(int(time.monotonic() - self.began), 60)
        self.echo(f"[{minutes:2d}m{seconds:02d}s] {text}")

    # The cluster's API, as plain JSON (the shapes kubectl prints and the chart renders).
    def _api(self) -> Any:
        if self.api is None:
            from kubernetes import config

            kubeconfig = str(self.cluster.kubeconfig)
            self.api = config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        return self.api

    def all_pods(self, selector: str) -> list[dict[str, Any]]:
        """Pods of the namespace matching selector, ready or not."""
        from kubernetes import client

        core = client.CoreV1Api(self._api())
        found = _raw(
            core.list_namespaced_pod(NAMESPACE, label_selector=selector, _preload_content=False)
        )
        items: list[dict[str, Any]] = found["items"]
        return items

    def pods(self, selector: str) -> list[dict[str, Any]]:
        """Ready pods of the namespace matching selector, with their addresses."""
        return [p for p in self.all_pods(selector) if pods.ready(p) and p["status"].get("podIP")]

    def to_zero(self, group: str) -> None:
        """Scale a group that scales to zero down, as KEDA does after its idle cooldownPeriod."""
        deployment = self.workload(group)
        self.say(f"{group}: idle, so scaling deployment/{deployment} to 0 as KEDA would")
        self.scale(deployment, 0)
        selector = pods.serving_selector(
            RELEASE, "app.kubernetes.io/component=model-server", f"corral.dev/group={group}"
        )
        deadline = time.monotonic() + 120
        while self.all_pods(selector):
            if time.monotonic() > deadline:
                raise ToolError(f"modelGroups.{group}: pods still there 120 s after scaling to 0")
            time.sleep(POLL_SECONDS)

    def deployment_of(self, pod: Mapping[str, Any]) -> dict[str, Any]:
        """The Deployment whose selector matches the pod."""
        from kubernetes import client

        apps = client.AppsV1Api(self._api())
        labels = pod["metadata"]["labels"]
        for doc in _raw(apps.list_namespaced_deployment(NAMESPACE, _preload_content=False))[
            "items"
        ]:
            wanted = doc["spec"]["selector"]["matchLabels"]
            if all(labels.get(k) == v for k, v in wanted.items()):
                return {"kind": "Deployment", **doc}
        raise ToolError(f"cluster: no Deployment selects pod {pod['metadata']['name']}")

    def workload(self, group: str) -> str:
        """The name of the group's serving Deployment."""
        from kubernetes import client

        apps = client.AppsV1Api(self._api())
        selector = f"app.kubernetes.io/component=model-server,corral.dev/group={group}"
        found = _raw(
            apps.list_namespaced_deployment(
                NAMESPACE, label_selector=selector, _preload_content=False
            )
        )
        (deployment,) = found["items"]
        return str(deployment["metadata"]["name"])

    def prepare_namespace(self) -> None:
        """The namespace, and the Secret holding the gateway's client key."""
        from kubernetes import client

        core = client.CoreV1Api(self._api())
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
        secret = client.V1Secret(
            metadata=client.V1ObjectMeta(name=KEY_SECRET), string_data={KEY_FIELD: self.key}
        )
        core.create_namespaced_secret(NAMESPACE, secret)

    def scale(self, deployment: str, replicas: int) -> None:
        """Set a Deployment's replicas through its scale subresource, as KEDA's HPA does."""
        from kubernetes import client

        client.AppsV1Api(self._api()).patch_namespaced_deployment_scale(
            deployment, NAMESPACE, {"spec": {"replicas": replicas}}
        )

    # Starting the pods' processes.
    def start_engine(self, pod: Mapping[str, Any]) -> tuple[local.Engine, subprocess.Popen[bytes]]:
        """The pod's rendered engine command on the pod's address."""
        host, port = pods.address(pod)
        group = pod["metadata"]["labels"]["corral.dev/group"]
        engine = local.command(
            Manifests([self.deployment_of(pod)]),
            group,
            model_dir=self.setup.model,
            state_dir=self.setup.engine_state,
            host=host,
            kv_cache_gib=1,
            cpus=str(len(self.engines) % (os.cpu_count() or 1)),
        )
        if engine.port != port:
            raise ToolError(f"modelGroups.{group}: the engine listens on {engine.port}, not {port}")
        log = self.setup.logs / f"{group}-{host}.log"
        log.write_text("")
        proc = local.start(engine, [self.setup.engine_bin], log)
        self.engines.append((engine, proc))
        self.say(f"{group}: vLLM starting for pod {pod['metadata']['name']} on {host}:{port}")
        self.say(f"{group}: its log is {self.setup.shown(log)}")
        return engine, proc

    def start(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        """A helper process (gateway, standby), its output in the demo's logs."""
        with (self.setup.logs / f"{name}.log").open("wb") as out:
            proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append((name, proc))

    def start_standby(self, pod: Mapping[str, Any]) -> None:
        """The chart's standby script for a group at zero, on the pod's address."""
        group = pod["metadata"]["labels"]["corral.dev/group"]
        args = pods.container_args(self.deployment_of(pod))
        service = (SERVICE_HOSTS.format(len(self.sleepers) + 1), pods.backend(args)[1])
        host, port = pods.address(pod)
        self.start(
            f"{group}-standby",
            pods.standby_command(args, host=host, backend=f"{service[0]}:{service[1]}"),
        )
        name = pod["metadata"]["name"]
        self.sleepers.append(Sleeper(group, self.workload(group), name, (host, port), service))
        self.say(f"{group}: at zero replicas; its standby listens on {host}:{port}")

    def start_gateway(self) -> None:
        """SMG with the installed gateway Deployment's args, watching this cluster."""
        (pod,) = self.pods(
            f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=gateway"
        )
        args = pods.container_args(self.deployment_of(pod))
        argv = pods.gateway_command(
            args, port=self.port, metrics_port=pods.free_port(), env={"SMG_API_KEY": self.key}
        )
        self.start("gateway", argv, self.cluster.env)
        self.say(f"gateway: SMG on {self.url}, finding the pods through the API server")

    @property
    def url(self) -> str:
        """The gateway's address."""
        return f"http://127.0.0.1:{self.port}"

    # Waiting.
    def wait_engine(self, engine: local.Engine, proc: subprocess.Popen[bytes]) -> float:
        """Until the engine's startup probe answers, with a progress line now and then."""
        last = [0.0]

        def progress(waited: float) -> None:
            if waited - last[0] >= PROGRESS_SECONDS:
                last[0] = waited
                self.say(f"{engine.group}: vLLM loading ({waited:.0f} s; a first start compiles)")

        return local.wait_ready(engine, proc, progress)

    def models_listed(self) -> set[str]:
        """The names the gateway lists now (empty until it answers)."""
        request = urllib.request.Request(self.url + "/v1/models")
        request.add_header("Authorization", f"Bearer {self.key}")
        try:
            with urllib.request.urlopen(request, timeout=3) as resp:
                return {m["id"] for m in json.loads(resp.read())["data"]}
        except (OSError, ValueError, KeyError):
            return set()

    def wait_gateway(self, names: set[str], timeout: float = 120) -> None:
        """Until the gateway lists every served name."""
        deadline = time.monotonic() + timeout
        while not names <= self.models_listed():
            self.check_alive()
            if time.monotonic() > deadline:
                listed = ", ".join(sorted(names))
                raise ToolError(f"gateway: /v1/models did not list {listed} in {timeout:.0f} s")
            time.sleep(POLL_SECONDS)

    def check_alive(self) -> None:
        """Fail in one line when a process the demo started has exited."""
        for engine, proc in self.engines:
            if proc.poll() is not None:
                code, logs = proc.returncode, self.setup.shown(self.setup.logs)
                raise ToolError(f"modelGroups.{engine.group}: vLLM exited with {code}; see {logs}")
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise ToolError(
                    f"{name}: exited with {proc.returncode}; "
                    f"see {self.setup.shown(self.setup.logs / name)}.log"
                )

    # Doing KEDA's part for groups at zero.
    def demand(self, sleeper: Sleeper) -> int:
        """The standby's demand, as KEDA's metrics-api trigger reads it from /status."""
        host, port = sleeper.standby
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/status", timeout=2) as resp:
                return int(json.loads(resp.read())["demand"])
        except (OSError, ValueError, KeyError):
            return 0

    def wake(self, sleeper: Sleeper, demand: int) -> None:
        """Scale the group to one pod, start its engine, then open its Service."""
        sleeper.woken = True
        self.say(f"{sleeper.group}: {demand} request(s) held by its standby")
        self.say(f"{sleeper.group}: scaling deployment/{sleeper.deployment} to 1, as KEDA would")
        self.scale(sleeper.deployment, 1)
        selector = pods.serving_selector(
            RELEASE, "app.kubernetes.io/component=model-server", f"corral.dev/group={sleeper.group}"
        )
        deadline = time.monotonic() + 120
        while not (found := self.pods(selector)):
            if time.monotonic() > deadline:
                raise ToolError(
                    f"modelGroups.{sleeper.group}: no pod Ready within 120 s of the scale-up"
                )
            time.sleep(POLL_SECONDS)
        engine, proc = self.start_engine(found[0])
        waited = self.wait_engine(engine, proc)
        self.relays.append(Relay(sleeper.service, (engine.host, engine.port)))
        host, port = sleeper.service
        self.say(
            f"{sleeper.group}: ready after {waited:.0f} s; its Service ({host}:{port}) answers,"
        )
        self.say(f"{sleeper.group}: so its standby hands the requests it holds to the group")
        self.standby_unready(sleeper)

    def standby_unready(self, sleeper: Sleeper) -> None:
        """Play the kubelet, which kwok does not run, for the standby's readiness probe.

        Once the group is up its /ready fails, so its pod turns unready and the gateway stops
        routing to it.
        """
        from kubernetes import client

        host, port = sleeper.standby
        if http_status(f"http://{host}:{port}/ready") != 503:
            return
        unready = {"type": "Ready", "status": "False", "reason": "ReadinessProbeFailed"}
        client.CoreV1Api(self._api()).patch_namespaced_pod_status(
            sleeper.pod, NAMESPACE, {"status": {"conditions": [unready]}}
        )
        self.say(f"{sleeper.group}: its standby's /ready now fails; pod {sleeper.pod} unready")

    def serve_forever(self) -> None:
        """Watch the standbys and the processes until interrupted."""
        while True:
            self.check_alive()
            for sleeper in self.sleepers:
                if not sleeper.woken and (demand := self.demand(sleeper)) > 0:
                    self.wake(sleeper, demand)
            time.sleep(POLL_SECONDS)

    def stop(self) -> None:
        """Stop every process and relay it started, then remove the cluster."""
        for engine, proc in self.engines:
            self.say(f"stopping vLLM of {engine.group} on {engine.host}")
            local.stop(proc)
        for _, proc in self.procs:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for relay in self.relays:
            relay.close()
        self.say("stopping the cluster")
        self.cluster.down()

    def instructions(self, models: list[ServedModel]) -> list[str]:
        """The ready block: where, with which key, what is served, and what to paste."""
        asleep = {s.group for s in self.sleepers}
        awake = [m for m in models if m.group not in asleep]
        sleeping = [m for m in models if m.group in asleep]
        auth = f"-H 'Authorization: Bearer {self.key}'"
        post = f"{auth} -H 'Content-Type: application/json' -d"

        def body(**fields: object) -> str:
            return "'" + json.dumps({**fields, "max_tokens": 16}) + "'"

        lines = [
            "",
            f"Corral demo: ready after {time.monotonic() - self.began:.0f} s",
            f"  gateway  {self.url}",
            f"  key      {self.key}  (Secret {NAMESPACE}/{KEY_SECRET})",
        ]
        for i, m in enumerate(models):
            count = sum(e.group == m.group for e, _ in self.engines)
            state = f"{count} pod on {m.engine}" if count == 1 else f"{count} pods on {m.engine}"
            if m.group in asleep:
                state = "at zero replicas, answered by its standby"
            aliases = f" (aliases: {', '.join(m.aliases)})" if m.aliases else ""
            lines.append(f"  {'models' if i == 0 else '':7s}  {m.served_name}{aliases}: {state}")
        first = awake[0]
        chat = {"messages": [{"role": "user", "content": "Hello!"}]}
        story = {"prompt": "Once upon a time", "stream": True}
        lines += [
            "",
            "Try it:",
            f"  curl -s {self.url}/v1/models {auth}",
            f"  curl -s {self.url}/v1/chat/completions {post} {body(model=alias(first), **chat)}",
            f"  curl -sN {self.url}/v1/completions {post} {body(model=first.served_name, **story)}",
        ]
        for m in sleeping:
            wait = int(coalesce(self.values)["scaleFromZero"]["waitSeconds"])
            lines += [
                "",
                f"Wake {m.served_name} (at zero replicas):",
                f"  curl -s {self.url}/v1/chat/completions {post} {body(model=alias(m), **chat)}",
                f"  Its standby holds the request (up to {wait} s) and shows the demand; the demo",
                "  scales the group to one pod as KEDA would and starts its vLLM, which answers.",
            ]
        lines += [
            "",
            "Ctrl-C here (or `make demo-down` elsewhere) stops everything and removes the cluster.",
        ]
        return lines


def http_status(url: str) -> int:
    """The status of a GET (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


def alias(model: ServedModel) -> str:
    """The name a client would use: the first alias, else the served name."""
    return (model.aliases or (model.served_name,))[0]


def port_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:port."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def preflight(setup: LocalSetup, port: int) -> None:
    """The first missing piece or busy port, as one line."""
    problems = setup.missing()
    if problems:
        raise ToolError(
            problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )
    if not port_free(port):
        raise CorralError(
            f"--port: 127.0.0.1:{port} is in use; pick another (make demo DEMO_ARGS=--port=8081)"
        )


def main(
    setup: LocalSetup, values: Mapping[str, Any], *, port: int, echo: Callable[[str], None]
) -> None:
    """Run the demo (after preflight) until Ctrl-C or SIGTERM, then stop all it started."""
    os.environ.setdefault("CORRAL_HELM", str(setup.helm))
    cluster = cluster_of(setup)
    demo = Demo(setup, cluster, values, port, echo)
    setup.logs.mkdir(parents=True, exist_ok=True)
    with _sigterm_interrupts():
        try:
            demo.say(
                "cluster: starting a local API server with simulated GPU nodes (ci/cluster.sh)"
            )
            demo.say(cluster.up())
            (cluster.state / "demo.pid").write_text(str(os.getpid()))
            demo.prepare_namespace()
            demo.say(f"install: the chart with the demo stack, release {RELEASE} in {NAMESPACE}")
            apply(
                RELEASE,
                values,
                namespace=NAMESPACE,
                kubeconfig=cluster.kubeconfig,
                context=None,
                wait=True,
                timeout="5m",
                report=lambda line: demo.say(f"install: {line}"),
            )
            standbys = demo.pods(pods.serving_selector(RELEASE, "corral.dev/role=standby"))
            for pod in standbys:
                demo.to_zero(pod["metadata"]["labels"]["corral.dev/group"])
                demo.start_standby(pod)
            engines = pods.serving_selector(RELEASE, "app.kubernetes.io/component=model-server")
            started = [demo.start_engine(p) for p in demo.pods(engines)]
            demo.start_gateway()
            for engine, proc in started:
                waited = demo.wait_engine(engine, proc)
                names = ", ".join(engine.served_names)
                demo.say(f"{engine.group}: ready after {waited:.0f} s, serving {names}")
            models = served_models(values)
            demo.wait_gateway({m.served_name for m in models})
            for line in demo.instructions(models):
                echo(line)
            demo.serve_forever()
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            demo.say("interrupted: stopping what the demo started")
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            demo.stop()
            signal.signal(signal.SIGINT, signal.default_int_handler)
    demo.say("demo: stopped; nothing it started is running")


def down(setup: LocalSetup, echo: Callable[[str], None], timeout: float = 120) -> None:
    """Stop a running demo (SIGTERM: it stops what it started), or remove what a killed one left."""
    cluster = cluster_of(setup)
    pid_file = cluster.state / "demo.pid"
    pid = int(pid_file.read_text()) if pid_file.is_file() else 0
    if pid and _alive(pid):
        echo(f"demo: stopping process {pid}")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        if _alive(pid):
            raise ToolError(f"demo: process {pid} still runs {timeout:.0f} s after SIGTERM")
    else:
        echo("demo: not running")
    if cluster.state.exists():
        echo("demo: removing its cluster")
        cluster.down()
    echo("demo: down")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
