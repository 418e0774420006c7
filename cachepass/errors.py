"""Errors that say where they happened: the stage, the module and the graph node."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from .integrations.dynamo_meta import PASS_THROUGH, is_restart_dynamo_takes

T = TypeVar("T")


class ConfigError(ValueError):
    """Bad backend options or cache config, raised before any compile work."""


class DynamoConfigError(PASS_THROUGH, ConfigError):
    """A `ConfigError` raised inside the backend, which Dynamo lets through unwrapped (NOTE [Config errors
    through Dynamo], dynamo_meta.py)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, first_useful_frame=None)  # None: keep the whole traceback


def through_dynamo(err: ConfigError) -> ConfigError:
    """`err` as an error Dynamo re-raises as is (NOTE [Config errors through Dynamo], dynamo_meta.py)."""
    if isinstance(err, DynamoConfigError):
        return err
    return DynamoConfigError(str(err)).with_traceback(err.__traceback__)


class GuardsAfterFreeze(RuntimeError):
    """Compiling a variant added shape guards after Dynamo installed the graph's guards: they would go
    unchecked (NOTE [Guards after Dynamo froze the ShapeEnv], dynamo_meta.py)."""


class StageError(RuntimeError):
    """A failure inside one stage of the cachepass pipeline."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        where = getattr(cause, "_cachepass_where", {})
        self.stage, self.module, self.node = stage, where.get("module"), where.get("node")
        location = "".join(f", {key} {where[key]!r}" for key in ("module", "node") if key in where)
        super().__init__(f"cachepass stage '{stage}' failed{location}: {type(cause).__name__}: {cause}")


@contextmanager
def located(**where: str) -> Iterator[None]:
    """Tag any exception raised inside with `module=`/`node=`; the innermost location wins."""
    try:
        yield
    except Exception as err:
        known = getattr(err, "_cachepass_where", None)
        if known is None:
            known = {}
            try:
                err._cachepass_where = known  # type: ignore[attr-defined]
            except AttributeError:  # exceptions with __slots__: no location, the message still names the stage
                raise err from None
        for key, value in where.items():
            known.setdefault(key, value)
        raise


def run_stage(name: str, fn: Callable[..., T], *args: Any) -> T:
    """Run one stage; unexpected failures become a `StageError` naming the stage and location.

    Inductor's `TensorifyScalarRestartAnalysis` while Dynamo calls the backend is control flow, not a failure:
    a float input it cannot keep symbolic (dynamic=True), which Dynamo lets through its backend call and then
    retraces as a constant (NOTE [Float inputs a variant does not use], dynamo_meta.py)."""
    try:
        return fn(*args)
    except (ConfigError, StageError):
        raise
    except Exception as err:
        if is_restart_dynamo_takes(err):
            raise
        raise StageError(name, err) from err
