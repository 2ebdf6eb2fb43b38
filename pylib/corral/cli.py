"""The `corral` command: wires verbs to the library; the only place errors are caught."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from corral import _helm, chart, plan, size
from corral.check import check, check_files, coalesce
from corral.compose import ModelGroup
from corral.deploy import apply, context_namespace, remove
from corral.errors import CorralError, ValuesError
from corral.groups import profiles
from corral.models import served_models
from corral.render import parse, start_render, validate
from corral.values import add_group, dump, load, merge

if TYPE_CHECKING:
    from corral import capacity, fleet

FILES = click.Path(exists=True, dir_okay=False, path_type=Path)
VALUES = click.argument("values", nargs=-1, required=True, type=FILES)
OUTPUT = click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True
)
RELEASE = click.option("--release", default="llm", show_default=True, help="Release name.")
NAMESPACE = click.option("--namespace", "-n", default="default", show_default=True)
CLUSTER_NAMESPACE = click.option(
    "--namespace", "-n", help="Release namespace (default: the kubeconfig context's, else default)."
)


def _merged(paths: tuple[Path, ...]) -> dict[str, Any]:
    return merge(*(load(p) for p in paths))


def _refuse(problems: list[str]) -> None:
    """Print each problem on its own line and exit 1."""
    for line in problems:
        click.echo(line)
    sys.exit(1)


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from importlib import metadata  # here: its import is a fifth of the CLI's start-up

        click.echo(f"corral {metadata.version('corral')}")
        click.echo(f"chart {chart.metadata()['version']} ({chart.CHART_DIR})")
        ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="Show the library's and its chart's versions.",
)
def cli() -> None:
    """Compose, check, render, diff and ship Corral stacks."""


@cli.command("new")
@click.option("--engine", type=click.Choice(["vllm", "sglang", "trtllm", "tgi"]), default="vllm")
@click.option("--model", required=True, help="hf://org/name, pvc://claim/path or /path.")
@click.option("--gpu", "gpu_type", help="GPU profile, e.g. h100-80gb.")
@click.option("--gpus", type=click.IntRange(min=0), help="GPUs per pod (tensor parallel).")
@click.option("--alias", "aliases", multiple=True, help="Extra served name (repeatable).")
@click.option("--name", default="", help="Group name; derived from the model when omitted.")
@click.option("--revision", help="Pinned Hugging Face revision.")
@click.option("--replicas", type=click.IntRange(min=0))
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, path_type=Path),
    help="The model's config.json (or snapshot/HF cache dir): size GPUs, parallelism and context.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=plan.DEFAULT_CONCURRENCY,
    show_default=True,
    help="Sequences the KV cache must hold at once (with --config).",
)
@click.option(
    "--max-context", type=click.IntRange(min=1), help="Wanted tokens per sequence (with --config)."
)
@click.option(
    "--fraction",
    type=click.FloatRange(0, 1, min_open=True),
    default=size.DEFAULT_FRACTION,
    show_default=True,
    help="GPU memory fraction the engine may use (with --config).",
)
@click.option(
    "--quantization",
    type=click.Choice(sorted(size.QUANT_BYTES)),
    help="Quantize on load (with --config; default: as the checkpoint is).",
)
@click.option(
    "--file",
    "-f",
    "target",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Values file to create, or to add the group to; stdout when omitted.",
)
def new_command(
    engine: str,
    model: str,
    gpu_type: str | None,
    gpus: int | None,
    aliases: tuple[str, ...],
    name: str,
    revision: str | None,
    replicas: int | None,
    config: Path | None,
    target: Path | None,
    **sizing: Any,
) -> None:
    """Write a values file for one model group, or add the group to an existing file.

    With --config, the group's GPU count, tensor parallelism and context come from the model's
    own config and the profile's memory, with a comment in the file that says why.
    """
    group = ModelGroup(
        model=model,
        engine=engine,
        name=name,
        gpus=gpus,
        gpu_type=gpu_type,
        tensor=gpus if gpus and gpus > 1 else None,
        aliases=list(aliases),
        revision=revision,
        replicas=replicas,
    )
    source = click.get_current_context().get_parameter_source
    given = [k for k in sizing if source(k) == ParameterSource.COMMANDLINE]
    if given and not config:
        raise click.UsageError(f"--{given[0].replace('_', '-')} sizes the group; give --config too")
    comment = _size_group(group, config, **sizing) if config else ""
    existing = target is not None and target.exists()
    values = load(target) if target and existing else {}
    text = target.read_text() if target and existing else ""
    if group.key in (values.get("modelGroups") or {}):
        raise ValuesError(f"modelGroups.{group.key}: already in {target}; pick another --name")
    problems = check(merge(values, {"modelGroups": {group.key: group.to_values()}}))
    if problems:
        _refuse(problems)
    written = add_group(text, group.key, group.to_values(), comment)
    if target is None:
        click.echo(written, nl=False)
        return
    target.write_text(written)
    click.echo(f"{target}: modelGroups.{group.key} ({engine}, {model})")


def _size_group(
    group: ModelGroup,
    config: Path,
    concurrency: int,
    max_context: int | None,
    fraction: float,
    quantization: str | None,
) -> str:
    """Set the group's GPUs, parallelism and settings from its model's config; the why."""
    profiles = chart.gpu_profiles()
    if not group.gpu_type:
        raise click.UsageError("--config needs --gpu, the profile to size for")
    if group.gpu_type not in profiles:
        known = ", ".join(sorted(profiles))
        raise ValuesError(f"--gpu: unknown profile {group.gpu_type}; use one of: {known}")
    model = size.load_model(config)
    chosen = plan.plan(
        model,
        profiles,
        group.gpu_type,
        concurrency=concurrency,
        context=max_context,
        fraction=fraction,
        quantization=quantization,
        tensor=group.gpus,
    )
    group.gpus = chosen.tensor_parallel
    group.tensor = chosen.tensor_parallel if chosen.tensor_parallel > 1 else None
    group.settings = {"maxContextLength": chosen.context, "gpuMemoryFraction": fraction}
    if quantization:
        group.settings["quantization"] = quantization
    return chosen.why(model, config)


def _model_configs(items: tuple[str, ...]) -> dict[str, Path]:
    configs = {}
    for item in items:
        group, sep, path = item.partition("=")
        if not sep or not group or not path:
            raise click.BadParameter(f"{item!r} is not GROUP=PATH", param_hint="--model-config")
        configs[group] = Path(path)
    return configs


@cli.command("check")
@VALUES
@RELEASE
@click.option(
    "--model-config",
    "model_configs",
    multiple=True,
    metavar="GROUP=PATH",
    help="A group's model config.json (or model/HF cache dir) for the GPU-fit check.",
)
@OUTPUT
def check_command(
    values: tuple[Path, ...], release: str, model_configs: tuple[str, ...], output: str
) -> None:
    """Check VALUES files (merged in order): schema, chart rules, and GPU fit where sized."""
    problems = check_files(values, release, _model_configs(model_configs))
    if output == "json":
        click.echo(json.dumps({"ok": not problems, "problems": problems}))
    else:
        for line in problems:
            click.echo(line)
        if not problems:
            click.echo(f"ok: {', '.join(str(v) for v in values)}")
    sys.exit(1 if problems else 0)


@cli.command("render")
@VALUES
@RELEASE
@NAMESPACE
@click.option("--kube-version", help="Kubernetes version to render and validate for, e.g. 1.33.")
@click.option("--validate", "strict", is_flag=True, help="Check each manifest offline, strictly.")
@OUTPUT
def render_command(
    values: tuple[Path, ...],
    release: str,
    namespace: str,
    kube_version: str | None,
    strict: bool,
    output: str,
) -> None:
    """Render VALUES with the chart and print the manifests as `helm template` does."""
    merged = _merged(values)
    with start_render(
        merged, release=release, namespace=namespace, kube_version=kube_version
    ) as rendering:
        problems = check(merged, release)
        if problems:
            _refuse(problems)
        text = rendering.result()
    if strict:
        problems = validate(parse(text), kube_version or "1.37")
        if problems:
            _refuse(problems)
    if output == "json":
        click.echo(json.dumps(parse(text).docs))
    else:
        click.echo(text, nl=False)


@cli.command("diff")
@click.argument("old", type=FILES)
@click.argument("new", type=FILES)
@RELEASE
@OUTPUT
def diff_command(old: Path, new: Path, release: str, output: str) -> None:
    """Preview an upgrade from OLD to NEW values: which groups restart, scale or stay."""
    from corral import diff

    files = [(path, load(path)) for path in (old, new)]
    with ExitStack() as running:
        # Both renders start before either check, so Helm runs them side by side meanwhile.
        renderings = [
            running.enter_context(start_render(values, release=release)) for _, values in files
        ]
        for path, values in files:
            problems = check(values, release)
            if problems:
                _refuse([f"{path}: {line}" for line in problems])
        texts = [rendering.result() for rendering in renderings]
    result = diff.impact_of_texts(*texts)
    if output == "json":
        click.echo(json.dumps(dataclasses.asdict(result)))
        return
    for change in result.groups:
        detail = f" ({', '.join(change.details)})" if change.details else ""
        click.echo(f"{change.group}: {change.impact}{detail}")
    if result.other:
        click.echo(f"other objects changed: {', '.join(result.other)}")


@cli.command("variants")
@click.argument("base", type=FILES)
@click.argument("overrides", type=FILES)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to write one values file per variant.",
)
def variants_command(base: Path, overrides: Path, out_dir: Path) -> None:
    """Expand BASE and each document of OVERRIDES into checked values files."""
    from corral import variants

    expanded = variants.expand(load(base), variants.load_overrides(overrides), base.stem)
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = False
    for variant in expanded:
        path = out_dir / f"{variant.name}.yaml"
        path.write_text(dump(variant.values))
        if variant.problems:
            failed = True
            for line in variant.problems:
                click.echo(f"{path}: {line}")
        else:
            click.echo(f"{path}: ok")
    sys.exit(1 if failed else 0)


@cli.command("models")
@VALUES
@OUTPUT
def models_command(values: tuple[Path, ...], output: str) -> None:
    """List the served names, aliases and LoRA adapters of VALUES files."""
    models = served_models(_merged(values))
    if output == "json":
        click.echo(json.dumps([dataclasses.asdict(m) for m in models]))
        return
    for m in models:
        aliases = f"  aliases: {', '.join(m.aliases)}" if m.aliases else ""
        adapters = f"  adapters: {', '.join(m.adapters)}" if m.adapters else ""
        click.echo(f"{m.served_name}  group: {m.group}  engine: {m.engine}{aliases}{adapters}")


@cli.command("size")
@click.argument("model", type=click.Path(exists=True, path_type=Path))
@click.option("--max-context", type=click.IntRange(min=1), help="Tokens per sequence.")
@click.option(
    "--fraction",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.9,
    show_default=True,
    help="GPU memory fraction the engine may use.",
)
@click.option(
    "--quantization",
    type=click.Choice(sorted(size.QUANT_BYTES)),
    help="Quantize on load (default: as the checkpoint is).",
)
@click.option("--gpu", "gpu_types", multiple=True, help="Profiles to size for (default: all).")
@OUTPUT
def size_command(
    model: Path,
    max_context: int | None,
    fraction: float,
    quantization: str | None,
    gpu_types: tuple[str, ...],
    output: str,
) -> None:
    """Size MODEL (config.json, model dir or HF cache dir) for each GPU profile."""
    report = size.report(
        size.load_model(model),
        fraction=fraction,
        context=max_context,
        quantization=quantization,
        profiles=gpu_types,
    )
    if output == "json":
        click.echo(json.dumps(report))
        return
    click.echo(size.format_report(report))


@cli.command("run")
@VALUES
@click.option("--group", help="The group to run (needed when VALUES have several).")
@click.option(
    "--model-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Local model folder the engine loads (corral run never downloads).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "gpu"]),
    default="auto",
    show_default=True,
    help="auto: gpu when nvidia-smi is on the PATH, else cpu (the preset's CPU replacements).",
)
@click.option("--kv-cache-gib", type=click.IntRange(min=1), default=2, show_default=True)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".corral-run"),
    show_default=True,
    help="Caches, temporary files and the engine log.",
)
def run_command(values: tuple[Path, ...], group: str | None, **kw: Any) -> None:
    """Start a group's engine here with exactly the command the chart renders; Ctrl-C stops it."""
    merged = _merged(values)
    problems = check(merged)
    if problems:
        _refuse(problems)
    from corral import run  # here: only `corral run` needs the local-process machinery

    run.main(merged, group, echo=click.echo, **kw)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@cli.command("ui")
@click.argument("values", nargs=-1, type=FILES)
@click.option(
    "--catalog",
    type=FILES,
    help="Models to offer: a YAML list of name, source, revision, config and notes.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
def ui_command(
    values: tuple[Path, ...], catalog: Path | None, host: str, port: int, open_browser: bool
) -> None:
    """Compose a model group in the browser, over current VALUES (shown as a diff) if given."""
    import webbrowser

    from corral.ui.app import serve
    from corral.ui.catalog import load_catalog
    from corral.ui.form import Workbench

    bench = Workbench(values, load_catalog(catalog) if catalog else [])

    def started(url: str) -> None:
        scope = "this machine only" if _loopback(host) else f"every host that reaches {host}"
        click.echo(f"corral ui: serving {url} (bound to {host}: {scope}); Ctrl-C stops it")
        if open_browser:
            webbrowser.open(url)

    try:
        serve(bench, host, port, started)
    except OSError as err:
        why = os.strerror(err.errno) if err.errno else str(err)
        raise ValuesError(f"--port {port}: cannot listen on {host}: {why}") from None
    except KeyboardInterrupt:
        pass


@cli.group("fleet")
def fleet_group() -> None:
    """Many clusters from one fleet file: Argo CD ApplicationSets, checks, promotion, diffs."""


FLEET = click.argument("fleet_file", metavar="FLEET", type=FILES)
STACKS = click.argument("stacks", metavar="STACK...", nargs=-1, required=True, type=FILES)


def _fleet_checked(
    fleet_file: Path, stacks: tuple[Path, ...]
) -> tuple[fleet.Fleet, dict[str, Any]]:
    from corral import fleet

    loaded, by_release = fleet.load_fleet(fleet_file), fleet.stacks_of(list(stacks))
    problems = fleet.problems(loaded, by_release)
    if problems:
        _refuse([f"{fleet_file}: {line}" for line in problems])
    return loaded, by_release


@fleet_group.command("check")
@FLEET
@STACKS
def fleet_check_command(fleet_file: Path, stacks: tuple[Path, ...]) -> None:
    """Check FLEET with the STACKs: clusters, placement, and every cluster's values."""
    loaded, _ = _fleet_checked(fleet_file, stacks)
    click.echo(f"ok: {fleet_file} ({len(loaded.clusters)} clusters, {len(stacks)} stacks)")


@fleet_group.command("render")
@FLEET
@STACKS
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write STACK.applicationset.yaml files here instead of printing them.",
)
def fleet_render_command(fleet_file: Path, stacks: tuple[Path, ...], out_dir: Path | None) -> None:
    """One Argo CD ApplicationSet per STACK, with every cluster's values (checked first)."""
    from corral import fleet

    loaded, by_release = _fleet_checked(fleet_file, stacks)
    docs = {name: fleet.application_set(loaded, name, s) for name, s in by_release.items()}
    if out_dir is None:
        click.echo("---\n".join(dump(d) for d in docs.values()), nl=False)
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, doc in docs.items():
        path = out_dir / f"{name}.applicationset.yaml"
        path.write_text(dump(doc))
        click.echo(f"{path}: {len(doc['spec']['generators'])} clusters")


@fleet_group.command("promote")
@FLEET
@click.option("--from", "source", required=True, help="Environment whose tested entries to take.")
@click.option("--to", "target", required=True, help="Environment to write them to.")
def fleet_promote_command(fleet_file: Path, source: str, target: str) -> None:
    """Give environment --to the chart revision and values of --from, in FLEET itself.

    Each environment keeps its own overlays; each cluster its replicas and placement.
    """
    from corral import fleet

    changed = fleet.promote(fleet_file, source, target)
    for line in changed or [f"environments.{target}: already as {source}"]:
        click.echo(line)


@fleet_group.command("diff")
@click.argument("old", type=FILES)
@click.argument("new", type=FILES)
@STACKS
@OUTPUT
def fleet_diff_command(old: Path, new: Path, stacks: tuple[Path, ...], output: str) -> None:
    """What moving from fleet OLD to NEW changes per cluster and stack (as `corral diff`)."""
    from corral import fleet

    loaded = [_fleet_checked(path, stacks) for path in (old, new)]
    found = fleet.changes(loaded[0][0], loaded[1][0], loaded[1][1])
    if output == "json":
        click.echo(json.dumps([dataclasses.asdict(c) for c in found]))
        return
    for change in found:
        head = f"{change.cluster}/{change.release}:"
        if change.impact is None:
            click.echo(f"{head} {change.note}")
            continue
        if change.revision:
            click.echo(f"{head} chart {change.revision}")
        for group in change.impact.groups:
            if group.impact != "unchanged":
                detail = f" ({', '.join(group.details)})" if group.details else ""
                click.echo(f"{head} {group.group}: {group.impact}{detail}")
        if change.impact.other:
            click.echo(f"{head} other objects changed: {', '.join(change.impact.other)}")


@cli.command("demo")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="The checkout where `make setup` ran (default: this library's, else the current folder).",
)
@click.option(
    "--values",
    "values_file",
    type=FILES,
    help="The stack to run (default: the checkout's examples/demo.yaml).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8080,
    show_default=True,
    help="Gateway port on 127.0.0.1.",
)
@click.option("--down", "stop", is_flag=True, help="Stop a running demo and remove its cluster.")
def demo_command(root: Path | None, values_file: Path | None, port: int, stop: bool) -> None:
    """The whole stack here: local cluster, vLLM's CPU build, SMG; Ctrl-C stops everything."""
    from corral import demo  # here: only `corral demo` needs the local cluster machinery
    from corral.localcluster import LocalSetup

    setup = LocalSetup((root or chart.CHECKOUT or Path.cwd()).resolve())
    if stop:
        demo.down(setup, click.echo)
        return
    demo.preflight(setup, port)
    path = values_file or setup.root / "examples" / "demo.yaml"
    if not path.is_file():
        raise ValuesError(f"--values: {path} does not exist; pass the stack to run")
    values = load(path)
    problems = check(values, demo.RELEASE)
    if problems:
        _refuse([f"{path}: {line}" for line in problems])
    demo.main(setup, values, port=port, echo=click.echo)


@cli.command("test")
def test_command() -> None:
    """Run the chart's helm-unittest suites with the pinned Helm."""
    sys.exit(_helm.unittest())


KUBE = [
    click.option("--kubeconfig", type=FILES, help="Kubeconfig file (default: the usual lookup)."),
    click.option("--context", help="Kubeconfig context."),
]


def _kube(func: Any) -> Any:
    for option in reversed(KUBE):
        func = option(func)
    return func


@cli.command("plan")
@VALUES
@click.option(
    "--inventory",
    type=FILES,
    help="GPU inventory YAML (nodes, profiles, GPUs, taints); default: the live cluster's nodes.",
)
@click.option(
    "--fleet",
    "fleet_file",
    type=FILES,
    help="Plan every cluster of this fleet file, each VALUES file a stack (release: its stem).",
)
@click.option(
    "--inventory-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="With --fleet: CLUSTER.yaml inventories here (default: the kube context named CLUSTER).",
)
@RELEASE
@CLUSTER_NAMESPACE
@_kube
@OUTPUT
def plan_command(
    values: tuple[Path, ...],
    inventory: Path | None,
    fleet_file: Path | None,
    inventory_dir: Path | None,
    release: str,
    namespace: str | None,
    kubeconfig: Path | None,
    context: str | None,
    output: str,
) -> None:
    """Will VALUES fit? Bin-pack every group's pods onto the inventory's or cluster's nodes.

    Exit 1 when some group's pods would stay Pending (or its surge pod finds no room).
    """
    from corral import capacity, fleet

    if inventory and fleet_file:
        raise click.UsageError("--inventory plans one cluster; with --fleet use --inventory-dir")
    if inventory_dir and not fleet_file:
        raise click.UsageError("--inventory-dir needs --fleet")
    if fleet_file:
        loaded, stacks = _fleet_checked(fleet_file, values)
        plans = []
        for cluster in loaded.clusters:
            name = str(cluster["name"])
            per_cluster = {r: fleet.cluster_values(loaded, cluster, s) for r, s in stacks.items()}
            known = profiles(coalesce(next(iter(per_cluster.values()))))
            if inventory_dir:
                nodes = capacity.load_inventory(inventory_dir / f"{name}.yaml", known)
            else:
                nodes = capacity.live_nodes(per_cluster, loaded.namespace, kubeconfig, name)
            plans.append(
                capacity.plan_stacks(per_cluster, nodes, cluster=name, namespace=loaded.namespace)
            )
    else:
        merged = _merged(values)
        problems = check(merged, release)
        if problems:
            _refuse(problems)
        if inventory:
            nodes = capacity.load_inventory(inventory, profiles(coalesce(merged)))
            name = inventory.stem
        else:
            namespace = namespace or context_namespace(kubeconfig, context)
            nodes = capacity.live_nodes([release], namespace, kubeconfig, context)
            name = context or "current-context"
        plans = [
            capacity.plan(
                merged, nodes, cluster=name, release=release, namespace=namespace or "default"
            )
        ]
    if output == "json":
        click.echo(
            json.dumps([_plan_json(p) for p in plans] if fleet_file else _plan_json(plans[0]))
        )
    else:
        click.echo("\n".join(capacity.format_plan(p) for p in plans))
    sys.exit(0 if all(g.status == "fits" for p in plans for g in p.groups) else 1)


def _plan_json(result: capacity.ClusterPlan) -> dict[str, Any]:
    groups = [{**dataclasses.asdict(g), "status": g.status} for g in result.groups]
    return {**dataclasses.asdict(result), "groups": groups, "pending": result.pending}


def _apply(release: str, values: tuple[Path, ...], **kw: Any) -> None:
    merged = _merged(values)
    problems = check(merged, release)
    if problems:
        _refuse(problems)
    status = apply(release, merged, report=lambda line: click.echo(f"  {line}", err=True), **kw)
    click.echo(status)


def _apply_command(name: str, summary: str) -> None:
    """Register install or upgrade: both run `helm upgrade --install` through pyhelm3."""

    @cli.command(name, help=summary)
    @click.argument("release")
    @VALUES
    @CLUSTER_NAMESPACE
    @_kube
    @click.option("--wait", is_flag=True, help="Wait for every pod to be ready, showing progress.")
    @click.option("--timeout", default="30m", show_default=True)
    @click.option(
        "--chart",
        help="Chart directory, .tgz or oci://host/path/corral (default: the one corral ships).",
    )
    @click.option("--chart-version", help="Version of an oci:// chart (default: the newest).")
    def command(release: str, values: tuple[Path, ...], **kw: Any) -> None:
        _apply(release, values, **kw)


_apply_command("install", "Install (or upgrade) RELEASE with VALUES.")
_apply_command("upgrade", "Upgrade (or install) RELEASE with VALUES.")


@cli.command("uninstall")
@click.argument("release")
@CLUSTER_NAMESPACE
@_kube
@click.option("--wait", is_flag=True, help="Wait until the release's objects are gone.")
def uninstall_command(release: str, **kw: Any) -> None:
    """Uninstall RELEASE; model-cache PVCs are kept."""
    remove(release, **kw)
    click.echo(f"{release} uninstalled (model caches kept)")


def main() -> None:
    """Run the CLI: user mistakes print `corral: error: …` and exit 2, never a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as err:
        click.echo(f"corral: error: {err.format_message()}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(130)
    except CorralError as err:
        click.echo(f"corral: error: {err}", err=True)
        sys.exit(2)
