#!/usr/bin/env python3
"""Generate versioned CLI flag catalogs for LLM serving engines.

Each catalog is built from the engine's own argument definitions:

* ``vllm``    -- the real ``vllm serve`` argparse parser (run inside a vLLM venv).
* ``sglang``  -- ``ServerArgs.add_cli_args`` (run inside an SGLang venv).
* ``tgi``     -- the launcher reference markdown (plus, optionally, the clap
  ``Args`` struct in ``launcher/src/main.rs`` for value types).
* ``trtllm``  -- static ``ast`` parse of the ``@click.option`` decorators in
  ``tensorrt_llm/commands/serve.py``.

Output: ``<out-dir>/<engine>-<version>.yaml``, flags sorted by name, no
timestamps, so re-running on the same inputs gives byte-identical files.
Developer tool only; it is not meant to run in CI.
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HELP_MAX = 120
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`'\"(\[])")
_TYPE_NAMES = {"int": "int", "float": "float", "str": "str", "bool": "bool"}


# Engine-specific fields worth keeping beside the common ones.
KEPT_EXTRAS = {"negations", "deprecated", "takes_value"}


@dataclass
class Flag:
    """One CLI option, engine-neutral."""

    name: str
    aliases: list[str] = field(default_factory=list)
    type: str = "str"
    choices: list[str] | None = None
    negatable: bool = False
    nargs: str | int | None = None
    help: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the catalog mapping, with fixed key order."""
        out: dict[str, Any] = {
            "name": self.name,
            "aliases": sorted(self.aliases),
            "type": self.type,
            "choices": self.choices,
            "negatable": self.negatable,
        }
        if self.type == "list":
            out["nargs"] = self.nargs
        # Facts only: the engines' help prose stays with the engines.
        out.update(sorted((k, v) for k, v in self.extra.items() if k in KEPT_EXTRAS))
        return out


# --------------------------------------------------------------------------- #
# Shared helpers
# --------------------------------------------------------------------------- #


def first_sentence(text: str | None) -> str:
    """Return the first sentence of ``text``, whitespace-collapsed, <=120 chars."""
    if not text:
        return ""
    flat = " ".join(text.split())
    sentence = _SENTENCE_END.split(flat, maxsplit=1)[0]
    if len(sentence) > HELP_MAX:
        sentence = sentence[: HELP_MAX - 3].rstrip() + "..."
    return sentence


def split_names(option_strings: Iterable[str]) -> tuple[str, list[str]]:
    """Pick the primary ``--long`` name; everything else becomes an alias."""
    opts = list(option_strings)
    longs = [o for o in opts if o.startswith("--")]
    name = longs[0] if longs else opts[0]
    return name, [o for o in opts if o != name]


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(str(value), ensure_ascii=False)  # JSON strings are valid YAML


def _yaml_lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        lines: list[str] = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{key}:")
                lines.extend(_yaml_lines(item, indent + 2))
            else:
                empty = "[]" if isinstance(item, list) else "{}"
                text = empty if isinstance(item, dict | list) else _yaml_scalar(item)
                lines.append(f"{pad}{key}: {text}")
        return lines
    if isinstance(value, list):
        lines = []
        for item in value:
            if isinstance(item, dict) and item:
                sub = _yaml_lines(item, indent + 2)
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines.extend(sub[1:])
            else:
                lines.append(f"{pad}- {_yaml_scalar(item)}")
        return lines
    return [pad + _yaml_scalar(value)]


def write_catalog(
    out_dir: Path,
    engine: str,
    version: str,
    source: dict[str, Any],
    flags: list[Flag],
    notes: Sequence[str] = (),
) -> Path:
    """Write ``<engine>-<version>.yaml`` deterministically and return its path."""
    seen: dict[str, Flag] = {}
    for flag in flags:
        if flag.name in seen:
            raise SystemExit(f"duplicate flag {flag.name} in {engine}")
        seen[flag.name] = flag
    doc = {
        "engine": engine,
        "version": version,
        "source": source,
        "flag_count": len(seen),
        "notes": list(notes),
        "flags": [seen[k].as_dict() for k in sorted(seen)],
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{engine}-{version}.yaml"
    header = "# Generated by ci/gen_flag_catalog.py -- do not edit by hand.\n"
    path.write_text(header + "\n".join(_yaml_lines(doc, 0)) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- #
# argparse walking (vLLM, SGLang)
# --------------------------------------------------------------------------- #


def _unwrap(func: Any) -> Any:
    """Follow partials, ``functools.wraps`` and closure cells to the real callable."""
    for _ in range(5):
        if isinstance(func, functools.partial):
            func = func.func
        elif hasattr(func, "__wrapped__"):
            func = func.__wrapped__
        else:
            break
    return func


def _callable_type(func: Any, depth: int = 0) -> str:
    """Classify an argparse ``type=`` callable, following wrappers/closures.

    ``json.loads`` and JSON-to-dataclass/dict parsers map to ``json``;
    ``human_readable_int*`` to ``int``; unknown callables to ``str``.
    """
    func = _unwrap(func)
    if isinstance(func, type):
        return _TYPE_NAMES.get(func.__name__, "str")
    name = (getattr(func, "__qualname__", "") or "").lower()
    module = getattr(func, "__module__", "") or ""
    if module == "json" or "json" in name or "dataclass" in name or "dict" in name:
        return "json"
    if "int" in name.split(".")[-1]:
        return "int"
    if depth < 4:
        for cell in getattr(func, "__closure__", None) or ():
            try:
                inner = cell.cell_contents
            except ValueError:
                continue
            if callable(inner):
                return _callable_type(inner, depth + 1)
    return "str"


def _argparse_scalar_type(action: argparse.Action) -> str:
    return "str" if action.type is None else _callable_type(action.type)


def _choices(values: Any) -> list[str] | None:
    """Stringify choices; unordered containers (sets) are sorted for determinism."""
    if values is None:
        return None
    out = [str(getattr(v, "value", v)) for v in values]
    return sorted(out) if isinstance(values, set | frozenset) else out


def flags_from_argparse(parser: argparse.ArgumentParser) -> tuple[list[Flag], list[str]]:
    """Convert every optional action of ``parser`` into a :class:`Flag`.

    Option strings come from ``parser._option_string_actions`` so hidden spellings
    (e.g. vLLM's ``--no-enable-x``) are seen. Returns flags and positional dests.
    """
    registered: dict[int, list[str]] = {}
    for opt, act in parser._option_string_actions.items():
        registered.setdefault(id(act), []).append(opt)
    deprecated = {id(a) for a in getattr(parser, "_deprecated", ())}
    deprecated |= {
        id(a)
        for a in parser._actions
        if getattr(a, "deprecated", False) or type(a).__name__.startswith("Deprecated")
    }
    bool_actions = (argparse._StoreTrueAction, argparse._StoreFalseAction)
    formatter = parser._get_formatter()
    flags: list[Flag] = []
    positionals: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        if not action.option_strings:
            positionals.append(action.dest)
            continue
        all_opts = sorted(set(registered.get(id(action), [])) | set(action.option_strings))
        extra: dict[str, Any] = {}
        negatable = isinstance(action, argparse.BooleanOptionalAction)
        if negatable:
            negs = set(getattr(action, "negative_option_strings", ()))
            negs |= {o for o in all_opts if o.startswith("--no-")}
            extra["negations"] = sorted(negs)
            positive = [o for o in action.option_strings if o not in negs]
            positive += [o for o in all_opts if o not in negs and o not in positive]
        else:
            positive = list(action.option_strings)
            positive += [o for o in all_opts if o not in positive]
        name, aliases = split_names(positive)
        nargs = action.nargs
        if (
            negatable
            or isinstance(action, bool_actions)
            or (isinstance(action, argparse._StoreConstAction) and isinstance(action.const, bool))
            or (nargs == 0 and action.type is None)
        ):
            ftype, nargs = "bool", None
        else:
            ftype = _argparse_scalar_type(action)
            if isinstance(action, argparse._AppendAction):
                nargs = "append" if nargs is None else nargs
            if nargs in ("+", "*", "append") or (isinstance(nargs, int) and nargs > 1):
                extra["item_type"] = ftype
                ftype = "list"
        hidden = action.help == argparse.SUPPRESS
        if hidden or not action.help:
            text = ""
        else:
            try:
                text = formatter._expand_help(action)
            except (KeyError, TypeError, ValueError):
                text = action.help
        extra["hidden"] = hidden
        extra["deprecated"] = id(action) in deprecated
        flags.append(
            Flag(
                name=name,
                aliases=aliases,
                type=ftype,
                choices=_choices(action.choices),
                negatable=negatable,
                nargs=nargs if ftype == "list" else None,
                help=first_sentence(text),
                extra=extra,
            )
        )
    return flags, positionals


def _dist_version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def cmd_vllm(args: argparse.Namespace) -> None:
    """Build the ``vllm serve`` parser exactly as the CLI does and walk it.

    Without a GPU vLLM resolves ``UnspecifiedPlatform`` and DeviceConfig fails
    ("Failed to infer device type"); ``VLLM_TARGET_DEVICE=cpu`` selects CpuPlatform.
    """
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    # vLLM only attaches help text when "--help" is in sys.argv at import time
    # (NEEDS_HELP), and drops --model when argv has both "serve" and "--help".
    sys.argv = ["vllm", "--help"]
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    top = FlexibleArgumentParser(prog="vllm")
    subparsers = top.add_subparsers(dest="subparser")
    serve = ServeSubcommand().subparser_init(subparsers)
    flags, positionals = flags_from_argparse(serve)
    version = _dist_version("vllm")
    from vllm.platforms import current_platform

    source = {
        "method": "argparse walk of ServeSubcommand().subparser_init() "
        "(vllm.entrypoints.cli.serve), i.e. the real `vllm serve` parser",
        "package": f"vllm=={version} (PyPI wheel)",
        "platform": f"{type(current_platform).__name__} "
        f"(VLLM_TARGET_DEVICE={os.environ.get('VLLM_TARGET_DEVICE')})",
        "positionals": positionals,
    }
    notes = [
        "Help text is the first sentence of argparse help after %-expansion.",
        "Some vLLM defaults/choices can depend on the detected platform; "
        "generated on CPU with no GPU present.",
        "Parser built with sys.argv=['vllm','--help'] so vLLM's lazy help "
        "(NEEDS_HELP) is populated; --model is kept.",
        "FlexibleArgumentParser also accepts underscore spellings (--max_model_len) "
        "and -O.x style shortcuts; those are not listed as aliases.",
    ]
    print(write_catalog(args.out_dir, "vllm", version, source, flags, notes))


def cmd_sglang(args: argparse.Namespace) -> None:
    """Walk ``ServerArgs.add_cli_args`` on a fresh ``argparse.ArgumentParser``."""
    from sglang.srt.server_args import ServerArgs

    parser = argparse.ArgumentParser(prog="python -m sglang.launch_server")
    ServerArgs.add_cli_args(parser)
    flags, positionals = flags_from_argparse(parser)
    version = _dist_version("sglang")
    source = {
        "method": "argparse walk of ServerArgs.add_cli_args(argparse.ArgumentParser())",
        "package": f"sglang=={version} (PyPI)",
        "positionals": positionals,
    }
    notes = ["Help text is the first sentence of argparse help after %-expansion."]
    print(write_catalog(args.out_dir, "sglang", version, source, flags, notes))


# --------------------------------------------------------------------------- #
# TGI: launcher.md (+ optional clap Args struct for types)
# --------------------------------------------------------------------------- #

_TGI_OPT = re.compile(r"^\s*(?:(?P<short>-\w),\s+)?(?P<long>--[\w-]+)(?:\s+<(?P<meta>\w+)>)?\s*$")
_TGI_ENV = re.compile(r"^\[env:\s*(?P<env>\w+)=")
_TGI_DEFAULT = re.compile(r"^\[default:\s*(?P<val>.*)\]$")
_TGI_POSSIBLE = re.compile(r"^\[possible values:\s*(?P<vals>.*)\]$")
_TGI_POSSIBLE_ITEM = re.compile(r"^-\s+(?P<val>[\w.-]+):")
_RUST_FIELD = re.compile(r"^\s*(?:pub\s+)?(?P<name>[a-z_][a-z0-9_]*):\s*(?P<ty>[^,]+),\s*$")
_RUST_INT = {"usize", "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "isize"}


def _rust_arg_types(src: str) -> dict[str, tuple[str, str]]:
    """Map ``field_name -> (rust_type, clap_attrs)`` for ``struct Args``."""
    body = re.search(r"^struct Args \{(?P<body>.*?)^\}", src, re.S | re.M)
    if not body:
        raise SystemExit("struct Args not found in rust source")
    out: dict[str, tuple[str, str]] = {}
    attrs: list[str] = []
    for line in body.group("body").splitlines():
        stripped = line.strip()
        if stripped.startswith("#["):
            attrs.append(stripped)
            continue
        m = _RUST_FIELD.match(line)
        if m:
            out[m.group("name")] = (m.group("ty").strip(), " ".join(attrs))
            attrs = []
    return out


def _rust_to_catalog_type(ty: str, attrs: str) -> tuple[str, str | None]:
    """Translate a clap field type to (catalog type, nargs)."""
    inner = ty
    opt = re.fullmatch(r"Option<(.+)>", inner)
    if opt:
        inner = opt.group(1)
    if inner.startswith("Vec<"):
        return "list", ("comma-separated" if "value_delimiter" in attrs else "append")
    if inner == "bool":
        return "bool", None
    if inner in _RUST_INT:
        return "int", None
    if inner in {"f32", "f64"}:
        return "float", None
    return "str", None


def _typed_default(raw: str | None, ftype: str) -> Any:
    """Convert a documented default string to the flag's scalar type."""
    if raw is None:
        return None
    try:
        if ftype == "int":
            return int(raw)
        if ftype == "float":
            return float(raw)
    except ValueError:
        return raw
    if ftype == "bool" and raw in ("true", "false"):
        return raw == "true"
    return raw


def parse_tgi_markdown(md: str, rust_src: str | None) -> list[Flag]:
    """Parse each ``## NAME`` option block of TGI's launcher reference."""
    rust = _rust_arg_types(rust_src) if rust_src else {}
    flags: list[Flag] = []
    for block in re.split(r"^## ", md, flags=re.M)[1:]:
        code = re.search(r"```shell\n(?P<body>.*?)```", block, re.S)
        if not code:
            continue
        lines = code.group("body").splitlines()
        m = _TGI_OPT.match(lines[0])
        if not m:
            raise SystemExit(f"unparsed TGI option line: {lines[0]!r}")
        long_opt = m.group("long")
        if long_opt in ("--help", "--version"):
            continue
        env = default = None
        choices: list[str] | None = None
        help_lines: list[str] = []
        in_possible = False
        for raw in lines[1:]:
            line = raw.strip()
            if (em := _TGI_ENV.match(line)) is not None:
                env = em.group("env")
            elif (dm := _TGI_DEFAULT.match(line)) is not None:
                default = dm.group("val")
            elif (pm := _TGI_POSSIBLE.match(line)) is not None:
                choices = [v.strip() for v in pm.group("vals").split(",")]
            elif line == "Possible values:":
                in_possible, choices = True, []
            elif in_possible and (im := _TGI_POSSIBLE_ITEM.match(line)) is not None:
                assert choices is not None
                choices.append(im.group("val"))
            elif not in_possible and line:
                help_lines.append(line)
        takes_value = m.group("meta") is not None
        field_name = long_opt[2:].replace("-", "_")
        nargs: str | None = None
        if field_name in rust:
            ftype, nargs = _rust_to_catalog_type(*rust[field_name])
        elif not takes_value or choices == ["true", "false"]:
            ftype = "bool"
        else:
            ftype = "str"
        if ftype == "bool" and choices == ["true", "false"]:
            choices = None  # Option<bool>: takes an explicit true/false value
        extra: dict[str, Any] = {"env": env, "default": _typed_default(default, ftype)}
        extra["takes_value"] = takes_value
        if field_name in rust:
            extra["rust_type"] = rust[field_name][0]
        aliases = [m.group("short")] if m.group("short") else []
        flags.append(
            Flag(
                name=long_opt,
                aliases=aliases,
                type=ftype,
                choices=choices,
                negatable=False,
                nargs=nargs,
                help=first_sentence(" ".join(help_lines)),
                extra=extra,
            )
        )
    return flags


def cmd_tgi(args: argparse.Namespace) -> None:
    """Generate the TGI catalog from launcher.md (and optionally main.rs)."""
    md = args.markdown.read_text(encoding="utf-8")
    rust = args.rust_src.read_text(encoding="utf-8") if args.rust_src else None
    flags = parse_tgi_markdown(md, rust)
    source = {
        "method": "parsed docs/source/reference/launcher.md option blocks"
        + ("; value types from clap `struct Args` in launcher/src/main.rs" if rust else ""),
        "repo": "huggingface/text-generation-inference",
        "tag": args.tag,
        "commit": args.commit,
        "files": [p.name for p in (args.markdown, args.rust_src) if p],
    }
    notes = [
        "-h/--help and -V/--version omitted.",
        "Option<bool> flags (e.g. --sharded) take an explicit true/false value: "
        "type bool, takes_value true.",
        "nargs for clap Vec fields: 'comma-separated' (value_delimiter=',') or "
        "'append' (flag repeated).",
    ]
    print(write_catalog(args.out_dir, "tgi", args.version, source, flags, notes))


# --------------------------------------------------------------------------- #
# TensorRT-LLM: static AST parse of click decorators
# --------------------------------------------------------------------------- #


def _is_click_call(node: ast.AST, attr: str) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == attr
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "click"
    )


def _static_str(node: ast.AST | None) -> tuple[str | None, str | None]:
    """Return ``(text, stability_tag)`` for a help expression, statically."""
    if node is None:
        return None, None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "help_info_with_stability_tag"
        and node.args
    ):
        text, _ = _static_str(node.args[0])
        tag_node = node.args[1] if len(node.args) > 1 else None
        tag = str(tag_node.value) if isinstance(tag_node, ast.Constant) else None
        return text, tag
    return ast.unparse(node), None


def _click_type(node: ast.AST | None) -> tuple[str, list[str] | None, str | None]:
    """Map a click ``type=`` expression to (type, choices, dynamic-choices expr)."""
    if node is None:
        return "str", None, None
    if isinstance(node, ast.Name):
        return _TYPE_NAMES.get(node.id, "str"), None, None
    if isinstance(node, ast.Call):
        fname = ast.unparse(node.func)
        if fname in {"click.Choice", "ChoiceWithAlias"} and node.args:
            try:
                values = [str(v) for v in ast.literal_eval(node.args[0])]
            except ValueError:
                return "str", None, ast.unparse(node.args[0])
            if fname == "ChoiceWithAlias" and len(node.args) > 1:
                values += sorted(ast.literal_eval(node.args[1]))
            return "str", values, None
        if fname in {"click.Path", "click.File"}:
            return "str", None, None
        if fname in {"click.IntRange"}:
            return "int", None, None
        if fname in {"click.FloatRange"}:
            return "float", None, None
    return "str", None, None


def parse_click_command(src: str, command: str) -> list[Flag]:
    """Statically collect ``@click.option`` flags of ``@click.command(command)``."""
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        is_target = any(
            _is_click_call(d, "command")
            and isinstance(d, ast.Call)
            and d.args
            and isinstance(d.args[0], ast.Constant)
            and d.args[0].value == command
            for d in node.decorator_list
        )
        if is_target:
            return [_click_option(d) for d in node.decorator_list if _is_click_call(d, "option")]
    raise SystemExit(f"@click.command({command!r}) not found")


def _click_option(call: ast.AST) -> Flag:
    assert isinstance(call, ast.Call)
    decls = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    opts: list[str] = []
    negatable = False
    for decl in decls:
        if not decl.startswith("-"):
            continue  # explicit parameter name, e.g. "extra_llm_api_options"
        if "/" in decl:  # click "--flag/--no-flag"
            on, _off = (s.strip() for s in decl.split("/", 1))
            opts.append(on)
            negatable = True
        else:
            opts.append(decl)
    kw = {k.arg: k.value for k in call.keywords if k.arg}
    ftype, choices, dyn = _click_type(kw.get("type"))

    def kw_true(key: str) -> bool:
        node = kw.get(key)
        return isinstance(node, ast.Constant) and node.value is True

    nargs: str | int | None = None
    if kw_true("is_flag") or negatable:
        ftype = "bool"
    elif kw_true("multiple"):
        ftype, nargs = "list", "append"
    elif isinstance(nargs_node := kw.get("nargs"), ast.Constant):
        value = nargs_node.value
        if isinstance(value, int) and (value == -1 or value > 1):
            ftype, nargs = "list", ("*" if value == -1 else value)
    text, tag = _static_str(kw.get("help"))
    default_node = kw.get("default")
    default: Any = None
    if default_node is not None:
        try:
            default = ast.literal_eval(default_node)
        except ValueError:
            default = f"<expr: {ast.unparse(default_node)}>"
    name, aliases = split_names(opts)
    extra: dict[str, Any] = {"default": default, "stability": tag}
    if dyn:
        extra["choices_from"] = dyn
    return Flag(
        name=name,
        aliases=aliases,
        type=ftype,
        choices=choices,
        negatable=negatable,
        nargs=nargs,
        help=first_sentence(text),
        extra=extra,
    )


def cmd_trtllm(args: argparse.Namespace) -> None:
    """Generate the trtllm-serve catalog by AST-parsing serve.py."""
    flags = parse_click_command(args.source.read_text(encoding="utf-8"), "serve")
    source = {
        "method": "static ast parse of @click.option decorators on "
        "@click.command('serve') in tensorrt_llm/commands/serve.py (no import)",
        "repo": "NVIDIA/TensorRT-LLM",
        "ref": args.ref,
        "commit": args.commit,
        "file": args.source.name,
    }
    notes = [
        *(args.note or []),
        "Help text has the ':tag:`<stability>`' prefix removed; the tag is in 'stability'.",
        "choices_from: choice list computed at import time (not statically known).",
        "Defaults that are expressions are recorded as '<expr: ...>'.",
    ]
    print(write_catalog(args.out_dir, "trtllm", args.version, source, flags, notes))


# --------------------------------------------------------------------------- #
# CLI
# --------------------------------------------------------------------------- #


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and dispatch to one engine's generator."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "pylib/corral/catalogs",
    )
    sub = parser.add_subparsers(dest="engine", required=True)

    sub.add_parser("vllm", help="import vllm; run inside the vLLM venv")
    sub.add_parser("sglang", help="import sglang; run inside the SGLang venv")

    tgi = sub.add_parser("tgi", help="parse TGI launcher.md")
    tgi.add_argument("--markdown", type=Path, required=True)
    tgi.add_argument("--rust-src", type=Path, help="launcher/src/main.rs at the same tag")
    tgi.add_argument("--version", required=True)
    tgi.add_argument("--tag", required=True)
    tgi.add_argument("--commit", required=True)

    trt = sub.add_parser("trtllm", help="AST-parse trtllm serve.py")
    trt.add_argument("--source", type=Path, required=True)
    trt.add_argument("--version", required=True, help="label used in the file name")
    trt.add_argument("--ref", required=True, help="tag/branch the source came from")
    trt.add_argument("--commit", required=True)
    trt.add_argument("--note", action="append", help="extra provenance note (repeatable)")

    args = parser.parse_args(argv)
    handlers: dict[str, Callable[[argparse.Namespace], None]] = {
        "vllm": cmd_vllm,
        "sglang": cmd_sglang,
        "tgi": cmd_tgi,
        "trtllm": cmd_trtllm,
    }
    handlers[args.engine](args)


if __name__ == "__main__":
    main()
