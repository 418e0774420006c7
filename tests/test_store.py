"""The cache store's byte count (NOTE [Bytes held, counted as entries change]) against a walk over every
tensor's storage, and its validator: milliseconds, no model."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
import torch

from cachepass.runtime.store import CacheStore, Stamp, nbytes, next_stamp, read_problem
from cachepass.compiler.regions import TensorSpec

STAMP = Stamp(graph=1, generation=1, context=None, signature=((2, 3),))


def walked(store: CacheStore) -> int:
    """The oracle: every entry's tensors, storages deduplicated, walked now."""
    seen = {}
    for tensor in store.tensors():
        storage = tensor.untyped_storage()
        seen[(tensor.device, storage.data_ptr())] = storage.nbytes()
    return sum(seen.values())


def test_counted_bytes_follow_puts_rotations_views_pops_and_clears():
    store = CacheStore()
    x = torch.zeros(4, 8)
    store.put("a", STAMP, x, x)  # FasterCache's first fill: [x, x] is one storage
    assert store.nbytes() == walked(store) == 128
    y = torch.zeros(4, 8)
    store.put("a", STAMP, x, y)  # rotation: t_2 is the old t
    assert store.nbytes() == walked(store) == 256
    base = torch.zeros(2, 10)
    store.put("b", STAMP, base[0])  # two views of one storage (CogVideoX's split attention outputs)
    store.put("c", STAMP, base[1])
    assert store.nbytes() == walked(store) == 256 + 80
    store.pop("b")
    assert store.nbytes() == walked(store) == 256 + 80, "the other view still holds the storage"
    store.drop(["c", "missing"])
    assert store.nbytes() == walked(store) == 256
    store.clear()
    assert store.nbytes() == walked(store) == 0
    store.put("a", STAMP, y, y)
    assert store.nbytes() == walked(store) == 128, "counting goes on after a clear"


def test_counting_starts_when_first_asked():
    store = CacheStore()
    tensors = [torch.zeros(3) for _ in range(3)]
    store.put("a", STAMP, tensors[0], tensors[1])
    store.put("b", STAMP, tensors[1])  # shared with "a" before anyone asked
    assert store.nbytes() == walked(store) == 24
    store.put("a", STAMP, tensors[2])
    assert store.nbytes() == walked(store) == 24


def test_random_sequences_agree_with_the_walk():
    rng = random.Random(0)
    pool = [torch.zeros(rng.randint(1, 16)) for _ in range(6)]
    base = torch.zeros(4, 5)
    pool += [base[i] for i in range(4)]
    store = CacheStore()
    for step in range(400):
        action = rng.random()
        key = rng.choice("abcd")
        if action < 0.6:
            store.put(key, STAMP, *rng.sample(pool, rng.randint(1, 3)))
        elif action < 0.8:
            store.pop(key)
        elif action < 0.82:
            store.clear()
        if rng.random() < 0.5:
            assert store.nbytes() == walked(store), f"step {step}"
    assert store.nbytes() == walked(store) == nbytes(list(store.tensors()))


SPEC = TensorSpec((2, 3), torch.float32, torch.device("cpu"), 24)


@pytest.mark.parametrize("entry_stamp, tensor, expected", [
    (STAMP, torch.zeros(2, 3), None),
    (Stamp(2, 1, None, ((2, 3),)), torch.zeros(2, 3), "belongs to another graph"),
    (Stamp(1, 2, None, ((2, 3),)), torch.zeros(2, 3), "belongs to another generation"),
    (Stamp(1, 1, "cond", ((2, 3),)), torch.zeros(2, 3), "belongs to cache context 'cond'"),
    (Stamp(1, 1, None, ((4, 3),)), torch.zeros(2, 3), "inputs changed shape"),
    (STAMP, torch.zeros(3, 3), "cached x is (3, 3)"),
    (STAMP, torch.zeros(2, 3, dtype=torch.float64), "torch.float64"),
])
def test_the_validator_names_every_mismatch(entry_stamp, tensor, expected):
    store = CacheStore()
    store.put("x", entry_stamp, tensor)
    problem = read_problem(store.get("x"), "x", STAMP, SPEC)
    assert problem is None if expected is None else expected in problem
    assert read_problem(store.get("y"), "y", STAMP, SPEC) == "no cached value for y"


@dataclass
class Holder:  # what next_stamp needs of a method's state
    generation: int = 1
    stamp: Stamp | None = None


@pytest.mark.parametrize("changed", [(2, 1, None, ((2, 3),)), (1, 2, None, ((2, 3),)), (1, 1, "cond", ((2, 3),)),
                                     (1, 1, None, ((4, 3),))])
def test_a_call_keeps_the_previous_stamp_only_when_nothing_changed(changed):
    state = Holder()
    first = next_stamp(state, 1, None, ((2, 3),))
    assert first == Stamp(1, 1, None, ((2, 3),)) and state.stamp is first
    assert next_stamp(state, 1, None, ((2, 3),)) is first
    graph, state.generation, context, signature = changed
    new = next_stamp(state, graph, context, signature)
    assert new is not first and new == Stamp(*changed) and state.stamp is new
    store = CacheStore()
    store.put("x", first, torch.zeros(2, 3))
    assert read_problem(store.get("x"), "x", new, SPEC) is not None, "a changed stamp still refuses the old entry"
    assert read_problem(store.get("x"), "x", first, SPEC) is None
