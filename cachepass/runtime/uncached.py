"""A graph compiled without caching (grad mode, nothing to cache), kept so reports can say why."""

from __future__ import annotations

from typing import Any
import torch
from torch.utils.weak import WeakIdKeyDictionary

from ..compiler.attention import TagResult
from ..compiler.capture import CapturedGraph
from ..report import AttentionReport
from .base import InstanceNames
from .registry import register_graph


class UncachedGraph(InstanceNames):
    """A graph compiled without caching (grad mode, nothing to cache), kept so reports can say why."""

    cached = False

    def __init__(self, captured: CapturedGraph, tags: TagResult | None, reason: str, fn: Any) -> None:
        self.captured = captured
        self.tags = tags
        self.reason = reason
        self.fn = fn
        self._owners: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self._instances = WeakIdKeyDictionary()
        self._clocks = WeakIdKeyDictionary()
        self.serial = register_graph(self)

    def __call__(self, *args: Any) -> Any:
        owner_index = self.captured.owner_input
        if owner_index is not None:
            self._owners[args[owner_index]] = True
        return self.fn(*args)

    def owners(self) -> list[torch.Tensor]:
        return list(self._owners.keys())

    def states(self) -> list[tuple[torch.Tensor | None, Any]]:
        return []  # nothing is cached

    def report(self, owner_ids: set[int] | None = None) -> Any:
        tags = self.tags
        sites = getattr(tags, "sites", ())
        rejected = getattr(tags, "rejected", ())
        return AttentionReport(self.serial, False, self.reason, len(self.captured.gm.graph.nodes), (), 0, (), None,
                               sites=sites, rejected=rejected)
