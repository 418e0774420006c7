"""The `cachepass` command line: `cachepass demo`, `cachepass dump`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

DEMO_EXAMPLE = "example: cachepass demo --steps 50"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cachepass",
        description="Step caching for diffusion transformers inside torch.compile.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `cachepass COMMAND --help` for each command's flags and an example.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="time eager, diffusers' PAB hook, Inductor and cachepass on a small built-in model",
        description="Build a small model with random weights (no downloads), run a denoising loop with eager "
                    "PyTorch, diffusers' PAB hook, torch.compile and cachepass, and print the comparison "
                    "and the cache plan.", epilog=DEMO_EXAMPLE)
    demo.add_argument("--model", default="cogvideox", choices=("cogvideox", "latte", "pixart", "dit"),
                      help="built-in model to run (default: cogvideox)")
    demo.add_argument("--size", default="small", choices=("tiny", "small"),
                      help="model size: tiny (seconds) or small (default; attention is a real share of the time)")
    demo.add_argument("--steps", type=int, default=50, help="denoising steps, timesteps 999 down to 0 (default: 50)")
    demo.add_argument("--repeats", type=int, default=3,
                      help="timed loops per configuration after one warm-up loop; the median is shown (default: 3)")
    demo.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        import torch

        from .demo import run_demo

        if args.threads:
            torch.set_num_threads(args.threads)
        print(run_demo(args.model, args.size, args.steps, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
