"""Write tests/tiny_configs.py from diffusers' own model tests (run once per diffusers version).

    git -C DIFFUSERS archive HEAD tests | tar -x -C /tmp/dtests
    python scripts/extract_tiny_configs.py /tmp/dtests > entries.txt   # then paste into tests/tiny_configs.py's TINY

Each `tests/models/transformers/test_models_*.py` of huggingface/diffusers has a tester config class with
`get_init_dict()` and `get_dummy_inputs()`. This imports each file, calls both once, and prints what the sweep
needs to rebuild them: the init dict as literals, and for each input either its exact value (integer / bool
tensors, structured float tensors such as ids and masks, Python values) or `Randn(shape)` for the random
latents and embeddings (the sweep draws its own seeded values). The test file each entry came from is kept.
"""

from __future__ import annotations

import importlib
import inspect
import pprint
import sys
from pathlib import Path

import torch


def spec(value):
    """A printable description of one dummy input (see tests/tiny_configs.py for the classes)."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point():
            flat = value.flatten().double()
            structured = bool(torch.all(flat == flat.round())) or bool(torch.all(flat == flat[0]))
            if not structured:
                return f"Randn({tuple(value.shape)}, {str(value.dtype).removeprefix('torch.')!r})"
        if value.numel() and bool(torch.all(value.flatten() == value.flatten()[0])):
            return f"Full({tuple(value.shape)}, {value.flatten()[0].item()!r}, {str(value.dtype).removeprefix('torch.')!r})"
        return f"Exact({value.tolist()!r}, {str(value.dtype).removeprefix('torch.')!r})"
    if isinstance(value, tuple):
        return "(" + ", ".join(spec(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(spec(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {spec(v)}" for k, v in value.items()) + "}"
    return repr(value)


def stub(name: str) -> None:
    """An empty stand-in for a test-only package this machine lacks (accelerate, parameterized): the tester
    config classes read here never use them."""
    from unittest import mock

    module = mock.MagicMock(name=name)
    module.__path__ = []
    module.__spec__ = None
    sys.modules[name] = module


def load(name: str):
    for _ in range(10):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as error:
            if not error.name or error.name.split(".")[0] in ("tests", "diffusers", "torch"):
                raise
            stub(error.name)
    return importlib.import_module(name)


def main(root: str) -> int:
    sys.path.insert(0, root)
    folder = Path(root) / "tests" / "models" / "transformers"
    for path in sorted(folder.glob("test_models_*.py")):
        name = f"tests.models.transformers.{path.stem}"
        try:
            module = load(name)
        except Exception as error:  # a test file needing an extra package
            print(f"# {path.name}: import failed: {type(error).__name__}: {error}".splitlines()[0])
            continue
        seen = set()
        for _, cls in vars(module).items():
            if not (inspect.isclass(cls) and cls.__module__ == name and hasattr(cls, "get_init_dict")
                    and hasattr(cls, "get_dummy_inputs")):
                continue
            try:
                config = cls()
                model = config.model_class.__name__
                if model in seen:
                    continue
                torch.manual_seed(0)
                init, inputs = config.get_init_dict(), config.get_dummy_inputs()
            except Exception as error:
                print(f"# {path.name} {cls.__name__}: {type(error).__name__}: {error}".splitlines()[0])
                continue
            seen.add(model)
            body = ", ".join(f"{k!r}: {spec(v)}" for k, v in inputs.items())
            print(f"    # tests/models/transformers/{path.name} ({cls.__name__})")
            init_text = pprint.pformat(init, width=104, compact=True).replace("\n", "\n" + " " * 13)
            print(f"    {model!r}: Tiny(\n        {path.name!r},\n        init={init_text},\n        inputs={{{body}}}),")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
