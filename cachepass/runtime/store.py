"""The one cache store every method keeps its tensors in, and the one read validator.

An entry is one or more tensors (PAB: an attention output; FasterCache: `[t_2, t]` of an attention
output, or the frequency deltas; FirstBlockCache: a residual) stamped with who wrote it:

    Stamp(graph=<runtime graph serial>, generation=<n>, context=<cache_context name or None>,
          signature=<shapes, dtypes and devices of the user inputs, and the symbolic sizes>)

`read_problem` is the validator: before any read, an entry must exist, carry the reader's stamp, and
hold tensors of the dtype, device and shape the reading graph expects. Any mismatch is a reason
(a string the runtime logs) to compute instead: never a stale read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import torch

from ..compiler.regions import TensorSpec


@dataclass(frozen=True)
class Stamp:
    graph: int  # serial of the runtime graph that wrote the entry (never an id(): addresses are reused)
    generation: int
    context: str | None  # diffusers' cache_context name for methods that keep a state per context
    signature: tuple


StorageKey = tuple  # (device, data_ptr, nbytes) of a tensor's storage: a live storage is the only one at its address


@dataclass(frozen=True)
class Entry:
    tensors: tuple[torch.Tensor, ...]
    stamp: Stamp
    storages: tuple[StorageKey, ...] = field(default=(), compare=False)  # one per tensor, for the store's byte count

    @property
    def tensor(self) -> torch.Tensor:
        return self.tensors[-1]


# NOTE [Bytes held, counted as entries change]
# FasterCache reports the bytes its caches hold after every call (its per-step record and peak). Walking
# every tensor's storage per call costs a Python storage object per tensor; instead, from the first time a
# store is asked, it counts references per storage as entries come and go, so `nbytes()` reads a small
# dict. A tensor an entry hands on to its successor (FasterCache's t_2 is the previous t) keeps the storage
# key its old entry found: a put looks up only the storages of tensors new to the store. A store never
# asked (PAB's, whose bytes only reports read) does no counting work on its puts.
class CacheStore:
    """Entries by key (a CacheSlot ident or a method's own name)."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._references: dict[StorageKey, int] | None = None  # storage -> tensors of entries using it; None: not asked

    def put(self, key: str, stamp: Stamp, *tensors: torch.Tensor) -> None:
        if self._references is None:
            self._entries[key] = Entry(tuple(tensors), stamp)
            return
        old = self._entries.get(key)
        storages = tuple(_storage_key(tensor, old) for tensor in tensors)
        self._entries[key] = Entry(tuple(tensors), stamp, storages)
        self._count(storages, 1)
        if old is not None:
            self._count(old.storages, -1)

    def get(self, key: str) -> Entry | None:
        return self._entries.get(key)

    def pop(self, key: str) -> Entry | None:
        entry = self._entries.pop(key, None)
        if entry is not None and self._references is not None:
            self._count(entry.storages, -1)
        return entry

    def drop(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.pop(key)

    def clear(self) -> None:
        self._entries.clear()
        if self._references is not None:
            self._references.clear()

    def _count(self, storages: tuple[StorageKey, ...], change: int) -> None:
        references = self._references
        for storage in storages:
            left = references.get(storage, 0) + change
            if left:
                references[storage] = left
            else:
                del references[storage]

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def keys(self) -> list[str]:
        return list(self._entries)

    def tensors(self) -> Iterator[torch.Tensor]:
        for entry in self._entries.values():
            yield from entry.tensors

    def nbytes(self) -> int:
        """Bytes held by the entries' tensors; a storage shared by several (a view, `[x, x]`) counts once."""
        if self._references is None:  # asked for the first time: count from now on
            self._references = {}
            for key, entry in self._entries.items():
                self._entries[key] = entry = Entry(entry.tensors, entry.stamp,
                                                   tuple(_storage_key(t, None) for t in entry.tensors))
                self._count(entry.storages, 1)
        return sum(storage[2] for storage in self._references)


def _storage_key(tensor: torch.Tensor, replaced: Entry | None) -> StorageKey:
    if replaced is not None:
        for known, key in zip(replaced.tensors, replaced.storages):
            if known is tensor:
                return key
    storage = tensor.untyped_storage()
    return (tensor.device, storage.data_ptr(), storage.nbytes())


def nbytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes held by `tensors`; a storage shared by several of them (a view, `[x, x]`) counts once."""
    return sum(key[2] for key in {_storage_key(tensor, None) for tensor in tensors})


class Stamped(Protocol):
    """A method's state, or one context of it: its generation and the latest call's stamp."""

    generation: int
    stamp: Stamp | None


def next_stamp(state: Stamped, graph: int, context: str | None, signature: tuple) -> Stamp:
    """This call's stamp, kept on `state`: the previous call's very object when nothing in it changed, so that
    the entries written since then pass the validator by identity, before any field is compared."""
    previous = state.stamp
    if (previous is None or previous.generation != state.generation or previous.graph != graph
            or previous.context != context or previous.signature != signature):
        state.stamp = Stamp(graph, state.generation, context, signature)
    return state.stamp


def read_problem(entry: Entry | None, what: str, stamp: Stamp, spec: TensorSpec | None = None,
                 expected_shape: tuple[int, ...] | None = None) -> str | None:
    """Why `entry` may not be read by a graph stamped `stamp` expecting `spec` (None: it may)."""
    if entry is None:
        return f"no cached value for {what}"
    written = entry.stamp
    if written is not stamp:
        if written.graph != stamp.graph:
            return f"the cached value of {what} belongs to another graph"
        if written.generation != stamp.generation:
            return f"the cached value of {what} belongs to another generation"
        if written.context != stamp.context:
            return f"the cached value of {what} belongs to cache context {written.context!r}, not {stamp.context!r}"
        if written.signature != stamp.signature:
            return f"inputs changed shape, dtype or device since {what} was cached"
    if spec is None:
        return None
    if expected_shape is None and spec.static:
        expected_shape = spec.shape
    for tensor in entry.tensors:
        if tensor.dtype != spec.dtype or tensor.device.type != spec.device.type or (
                expected_shape is not None and tensor.shape != tuple(expected_shape)):
            return (f"cached {what} is {tuple(tensor.shape)} {tensor.dtype} on {tensor.device}, expected "
                    f"{expected_shape or spec.shape} {spec.dtype} on {spec.device.type}")
    return None
