"""The `cachepass` command line: `cachepass demo`, `cachepass dump` and `cachepass tune`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .methods import METHODS, demo_method
from .methods.plugin import Flag
from .models import BUILDERS, SIZES

DEMO_EXAMPLE = """example:
  cachepass demo                       # small CogVideoX, 50 steps, 3 rounds
  cachepass demo --size tiny --steps 12 --rounds 2   # a quick look

time: many minutes on a loaded 2-core machine. Measured 2026-12-07 on 2 shared cores (load average 6-8):
  cold Inductor cache 20 minutes (1213 s; warm-up loops, where it compiles, 430 s); warm cache: warm-up
  loops 247 s, then the 12 timed loops (27-140 s each there) as cold. --size tiny takes about 2 minutes."""

def dump_epilog() -> str:
    """`cachepass dump --help`'s examples and config-file help: the plug-ins' own examples (their `dump_example`,
    `config_example`) after the method-neutral ones."""
    examples = ["cogvideox --out dump-cog",
                *(m.plugin.dump_example for m in METHODS if m.plugin.dump_example),
                "--model-class LatteTransformer3DModel --model-config latte.json --frames 4 --height 16 --width 16",
                "--checkpoint ./CogVideoX-2b --subfolder transformer --cache-config cache.json --steps 50"]
    configs = ",\n".join(m.plugin.config_example for m in METHODS if m.plugin.config_example).splitlines()
    return "\n".join(["examples:", *(f"  cachepass dump {e}" for e in examples), "",
                      "A cache config file holds the fields of one config class; the field names tell which:",
                      _class_list(), "e.g. " + "\n     ".join(configs)])


def config_classes() -> list[tuple[type, str]]:
    """Every config class `--cache-config` reads, with its method's name: cachepass's, then diffusers' (those this
    diffusers has), from the method registry."""
    import diffusers

    theirs = [m for m in METHODS if m.config_owner == "diffusers" and hasattr(diffusers, m.diffusers_config)]
    return [(m.config_type, m.name) for m in METHODS] + [(getattr(diffusers, m.diffusers_config), m.name)
                                                           for m in theirs]


def method_flags() -> list[tuple[Flag, list[str]]]:
    """Every method's `cachepass dump` flags (its plug-in's `flags()`), each once, with every method's help."""
    merged: dict[str, tuple[Flag, dict[str, list[str]]]] = {}  # flag name -> (flag, help -> methods)
    for method in METHODS:
        for flag in method.plugin.flags():
            merged.setdefault(flag.name, (flag, {}))[1].setdefault(flag.help, []).append(method.name)
    return [(flag, [f"{', '.join(names)}: {text}" for text, names in helps.items()]) for flag, helps in merged.values()]


def _class_list() -> str:
    return "\n".join(f"  {m.name:<12} cachepass.{m.config_class}" + (f" or {m.theirs}" if m.diffusers_config else "")
                     for m in METHODS)


def _method_help() -> str:
    default = " (default)"
    return "; ".join(f"{m.name}: {m.title}{default * (i == 0)}, {m.dump_flags}" for i, m in enumerate(METHODS))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cachepass")
    except PackageNotFoundError:  # run from a source tree that was never installed
        from . import __version__

        return f"{__version__} (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cachepass", description="Step caching for diffusion transformers inside torch.compile.",
        epilog="Run `cachepass COMMAND --help` for each command's flags and examples.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo(commands)
    _add_dump(commands)
    _add_tune(commands)
    return parser


def _add_demo(commands: Any) -> None:
    label = demo_method().plugin.bench_label
    demo = commands.add_parser(
        "demo", help=f"time eager, diffusers' {label} hook, Inductor and cachepass on a small built-in model",
        description="Build a small model with random weights (no downloads), run a denoising loop with eager "
                    f"PyTorch, diffusers' {label} hook, torch.compile and cachepass, and print the comparison "
                    "and the cache plan. Progress lines go to stderr as it runs: each configuration's warm-up "
                    "loop (where the compiled ones compile) and timed loops, and each variant cachepass compiles.", epilog=DEMO_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--model", default="cogvideox", choices=tuple(BUILDERS),
                      help="built-in model to run (default: cogvideox)")
    demo.add_argument("--size", default="small", choices=SIZES,
                      help="model size: tiny (seconds) or small (default; attention is a real share of the time)")
    demo.add_argument("--steps", type=int, default=50, help="denoising steps, timesteps 999 down to 0 (default: 50)")
    demo.add_argument("--rounds", type=int, default=3,
                      help="after one warm-up loop each, rounds of one timed loop per configuration, taken in turn; "
                           "the table shows each one's median loop and the median of per-round ratios (default: 3)")
    demo.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def _add_dump(commands: Any) -> None:
    dump = commands.add_parser(
        "dump", help="write the captured graph, tags, plan and rewritten variants of a model to a folder",
        description="Trace a model with the cachepass backend on synthetic inputs and write numbered, "
                    "deterministically named files: the captured graph, the tag table, the plan for an N-step "
                    "schedule, each variant's rewritten graph and a summary. Prints the tag table and the plan.",
        epilog=dump_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    model = dump.add_argument_group("model (one of)")
    model.add_argument("model", nargs="?", choices=tuple(BUILDERS), metavar="MODEL",
                       help=f"a built-in demo model: {', '.join(BUILDERS)}")
    model.add_argument("--model-class", metavar="CLASS",
                       help="a diffusers model class, e.g. CogVideoXTransformer3DModel; needs --model-config")
    model.add_argument("--model-config", type=Path, metavar="JSON",
                       help="config JSON for --model-class; the model gets random weights")
    model.add_argument("--checkpoint", type=Path, metavar="DIR",
                       help="a local diffusers checkpoint folder, loaded with from_pretrained (weights if present)")
    model.add_argument("--subfolder", default=None, help="subfolder of --checkpoint, e.g. transformer")
    model.add_argument("--size", default="tiny", choices=SIZES, help="size of a built-in model (default: tiny)")
    inputs = dump.add_argument_group("synthetic input size (for --model-class and --checkpoint)")
    for flag, default, what in (("--batch", 1, "batch size"), ("--frames", 2, "latent frames"),
                                ("--height", 8, "latent height"), ("--width", 8, "latent width"),
                                ("--text-tokens", 8, "text tokens")):
        inputs.add_argument(flag, type=int, default=default, help=f"{what} (default: {default})")
    cache = dump.add_argument_group("cache config (flags, or a JSON file)")
    cache.add_argument("--method", choices=tuple(m.name for m in METHODS), default=METHODS[0].name,
                       help=_method_help())
    cache.add_argument("--cache-config", type=Path, metavar="JSON",
                       help="a JSON file with the fields of one config class, cachepass's or diffusers' ("
                            + ", ".join(" or ".join(filter(None, (m.config_class, m.diffusers_config))) for m in METHODS)
                            + "); the field names tell the class, --method decides where they fit several")
    for flag, helps in method_flags():
        cache.add_argument(flag.name, **dict(flag.options), help="; ".join(helps))
    dump.add_argument("--steps", type=int, default=50, help="steps of the schedule to plan (default: 50)")
    dump.add_argument("--out", type=Path, default=Path("cachepass-dump"), help="output folder (default: cachepass-dump)")
    dump.add_argument("--compile", action="store_true",
                      help="compile the variants with Inductor too and print their compile times (default: trace only)")
    dump.add_argument("--svg", action="store_true", help="also draw each variant as SVG (needs pydot and graphviz)")


def tune_epilog() -> str:
    """`cachepass tune --help`'s examples, the methods from the registry (those with a search space)."""
    from .tune import tunable_methods

    names = ",".join(m.name for m in tunable_methods(None)[:2])
    return "\n".join([
        "examples:", "  cachepass tune dit --budget psnr=35 --steps 8 --compiler eager      # the tiny plain DiT",
        f"  cachepass tune cogvideox --budget psnr=35 --budget rel_l2=0.05 --methods {names} --out tune.json", "",
        "A budget met on these inputs is a calibration, not a guarantee for others (docs/tune.md)."])


def _add_tune(commands: Any) -> None:
    tune = commands.add_parser(
        "tune", help="find the fastest cache config that keeps a quality budget on a small built-in model",
        description="Build a small model with random weights (no downloads), run its denoising loop once uncached "
                    "(the reference), then search each method's knob for the most reuse within the budget, in each "
                    "setting of the few fields it crosses it with (docs/tune.md); print "
                    "every candidate, the winner and its measured time, and write them as JSON. One progress line "
                    "per candidate goes to stderr.", epilog=tune_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    tune.add_argument("model", choices=tuple(BUILDERS), metavar="MODEL", help=f"a built-in model: {', '.join(BUILDERS)}")
    tune.add_argument("--size", default="tiny", choices=SIZES, help="model size (default: tiny)")
    tune.add_argument("--budget", action="append", required=True, metavar="METRIC=BOUND",
                      help="a quality floor against the uncached output, repeatable or comma-separated: psnr=35 (dB), "
                           "ssim=0.95 (images of 11x11 or more), rel_l2=0.05 (a ceiling), lpips=0.1 (a ceiling; "
                           "needs pip install lpips)")
    tune.add_argument("--methods", default=None, metavar="NAMES",
                      help="comma-separated methods to search (default: every method with a search space; one that "
                           "cannot run on the model is left out with a note)")
    tune.add_argument("--steps", type=int, default=20, help="denoising steps, 999 down to 0 (default: 20)")
    tune.add_argument("--guidance", type=float, default=None,
                      help="classifier-free guidance scale: a batch of 2 per call (default: none, a batch of 1)")
    tune.add_argument("--compiler", default="inductor", choices=("inductor", "eager"),
                      help="how variants compile: inductor (default; what you deploy) or eager (a quick look)")
    tune.add_argument("--search", default="bisect", choices=("bisect", "grid"),
                      help="bisect each method's knob in each setting of its crossed fields (default) or evaluate "
                           "every value")
    tune.add_argument("--repeats", type=int, default=3, help="warm generations timing the winner (default: 3)")
    tune.add_argument("--no-compose", dest="compose", action="store_false",
                      help="search each method alone (default: a stack skip also with each calibrator)")
    tune.add_argument("--out", type=Path, default=Path("tune.json"), help="the result as JSON (default: tune.json)")
    tune.add_argument("--plot", type=Path, default=None, help="also plot time against quality (needs matplotlib)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    if args.command == "tune":
        return _tune(parser, args)
    return _dump(parser, args)


def parse_budget_flags(values: Sequence[str]) -> dict[str, float]:
    """`--budget psnr=35 --budget ssim=0.9,rel_l2=0.05` as {metric: bound}; ValueError names the bad item."""
    budget: dict[str, float] = {}
    for item in (part.strip() for value in values for part in value.split(",")):
        name, sep, bound = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--budget {item!r} is not METRIC=BOUND, e.g. psnr=35")
        try:
            budget[name.strip()] = float(bound)
        except ValueError:
            raise ValueError(f"--budget {item!r}: {bound!r} is not a number") from None
    return budget


def _tune(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from .errors import ConfigError
    from .measure import denoise
    from .models import build
    from .timesteps import timesteps_linspace
    from .tune import parse_budget, tunable_methods, tune

    try:
        budget = parse_budget_flags(args.budget)
        parse_budget(budget)
        methods = None if args.methods is None else tuple(m.strip() for m in args.methods.split(",") if m.strip())
        tunable_methods(methods)
    except (ValueError, ConfigError) as err:
        parser.error(str(err))
    for name in ("steps", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    demo = build(args.model, args.size)
    timesteps = timesteps_linspace(args.steps)

    def generate(model: Any) -> Any:
        return denoise(demo, model, timesteps, guidance=args.guidance, time_steps=False).final

    try:
        result = tune(generate, budget, methods, model=demo.module, options={"compiler": args.compiler},
                      search=args.search, repeats=args.repeats, progress=True, compose=args.compose)
        if args.plot is not None:
            result.plot(str(args.plot))
    except ConfigError as err:
        parser.error(str(err))
    metrics = result.budget.metrics()
    rows = [[c.label, c.row()["config"], *(f"{c.quality[m]:.4g}" for m in metrics), "yes" if c.met else "no",
             f"{c.reused_calls}/{c.calls}", f"{c.predicted_seconds:.4g}",
             "" if c.measured_seconds is None else f"{c.measured_seconds:.4g}"] for c in result.table]
    print(tabulate(rows, headers=["method", "config", *metrics, "met", "reused", "predicted s", "measured s"]))
    print()
    print(result.summary())
    for note in result.notes:
        print(f"note: {note}")
    result.save(str(args.out))
    print(f"wrote {args.out}" + (f" and {args.plot}" if args.plot is not None else ""))
    return 0


def _demo(args: argparse.Namespace) -> int:
    import torch

    from .demo import run_demo

    if args.threads:
        torch.set_num_threads(args.threads)
    print(run_demo(args.model, args.size, args.steps, args.rounds))
    return 0


def _dump(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .dump import dump
    from .methods import method_of, to_cache_config

    chosen = [bool(args.model), bool(args.model_class), bool(args.checkpoint)]
    if sum(chosen) != 1:
        parser.error("dump needs exactly one of MODEL, --model-class (with --model-config) or --checkpoint")
    demo = _load_model(parser, args)
    cache = _cache_config(parser, args)
    options = {"cache": cache, "compiler": "inductor" if args.compile else "eager"}
    config = to_cache_config(cache)
    batch = 2 * demo.batch if method_of(config).plugin.needs_cfg_batch(config) else None  # CFG-Cache needs a batched [uncond, cond]
    result = dump(demo, options, args.steps, args.out, svg=args.svg, batch=batch)
    print(result.tag_table)
    if result.plan_table:
        print()
        print(result.plan_table)
    if args.compile:
        print()
        print(result.report.variant_table())
    print(f"\nwrote {len(result.files)} files to {result.folder.resolve()}:")
    print("\n".join(f"  {path.name}" for path in result.files))
    return 0


def _load_model(parser: argparse.ArgumentParser, args: argparse.Namespace):
    from .inputs import InputSize, demo_model
    from .models import build

    if args.model:
        return build(args.model, args.size)
    import diffusers

    size = InputSize(args.batch, args.frames, args.height, args.width, args.text_tokens)
    if args.model_class:
        if args.model_config is None:
            parser.error("--model-class needs --model-config JSON")
        cls = getattr(diffusers, args.model_class, None)
        if cls is None:
            parser.error(f"diffusers has no class {args.model_class!r}")
        module = cls.from_config(json.loads(args.model_config.read_text()))
    else:
        config = json.loads(((args.checkpoint / (args.subfolder or "")) / "config.json").read_text())
        cls = getattr(diffusers, config.get("_class_name", ""), None)
        if cls is None:
            parser.error(f"{args.checkpoint}: config.json names no diffusers class (_class_name)")
        module = cls.from_pretrained(args.checkpoint, subfolder=args.subfolder)
    return demo_model(module, size)


def _cache_config(parser: argparse.ArgumentParser, args: argparse.Namespace):
    from .errors import ConfigError
    from .methods import method_named

    try:
        if args.cache_config is not None:
            fields = {k: tuple(v) if isinstance(v, list) else v
                      for k, v in json.loads(args.cache_config.read_text()).items()}
            return _config_from_fields(fields, args.method)
        return method_named(args.method).plugin.config_from_flags(vars(args))
    except (ConfigError, TypeError) as err:
        parser.error(f"bad cache config: {err}")


def _config_from_fields(fields: dict[str, Any], method: str):
    """The config class a JSON file describes: the one whose fields hold all its keys (diffusers' or
    cachepass's, of any registered method); `--method` decides between classes that both fit."""
    from .errors import ConfigError

    classes = config_classes()
    fitting = [(cls, kind) for cls, kind in classes if set(fields) <= _field_names(cls)]
    if not fitting:
        raise ConfigError(f"the keys {sorted(fields)} are not all fields of one config class: "
                          f"{'; '.join(_where(key, classes) for key in fields)}. Use the field names of one of "
                          f"{', '.join(_class_name(cls) for cls, _ in classes)}.")
    fitting.sort(key=lambda fit: (fit[1] != method, fit[0].__module__.startswith("diffusers")))
    return fitting[0][0](**fields)


def _field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _class_name(cls: type) -> str:
    return cls.__name__ if cls.__module__.startswith("diffusers") else f"cachepass.{cls.__name__}"


def _where(key: str, classes: list[tuple[type, str]]) -> str:
    """Which config classes have field `key`, or the closest field there is and its classes."""
    from .options import closest

    holders = [_class_name(cls) for cls, _ in classes if key in _field_names(cls)]
    if holders:
        return f"{key!r} is a field of {', '.join(holders)}"
    match = closest(key, sorted(set().union(*(_field_names(cls) for cls, _ in classes))))
    if match is None:
        return f"{key!r} is a field of none"
    near = [_class_name(cls) for cls, _ in classes if match in _field_names(cls)]
    return f"{key!r} is a field of none (did you mean {match!r}, a field of {', '.join(near)}?)"


if __name__ == "__main__":
    sys.exit(main())
