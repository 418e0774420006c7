"""TeaCache's words for the block stack in its report and dump: the indicator decides before any block runs,
the whole stack is skipped or none of it."""

from __future__ import annotations

from ...compiler.blocks import block_table


def block_report(tags, fmt: str = "simple") -> str:  # (TeaTags, str)
    stack = tags.stack
    cached = ", ".join(f"{stack.streams[i].name} = {stack.streams[i].last} - {stack.stream_inputs[i]} "
                       f"({stack.streams[i].spec.nbytes_hint:,} bytes)" for i in stack.cached_streams)
    return block_table(stack, None, (
        f"indicator: {tags.indicator} ({tags.found_by}); the head piece computes it and {len(tags.head_nodes)} "
        f"nodes it needs, {len(tags.crossing)} values handed to the tail",
        f"skipped as one: all {len(stack.blocks)} blocks, or none",
        f"residuals cached for a skip: {cached}"), fmt)
