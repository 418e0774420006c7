"""SeaCache's words for the block stack in its report and dump: the indicator decides before any block runs;
a reuse step skips the whole stack, adding the last (or extrapolated) residual."""

from __future__ import annotations

from ...compiler.blocks import BlockStack, block_table


def block_report(stack: BlockStack, fmt: str = "simple") -> str:
    hidden = stack.hidden_stream
    others = [s.name for i, s in enumerate(stack.streams) if s.cached and i != stack.hidden]
    return block_table(stack, None, (
        "decision: the SEA-filtered video latents of the step against the previous step's, before any block runs",
        f"skipped as one: all {len(stack.blocks)} blocks, or none",
        f"residual cached for a reuse: stream {hidden.name} = {hidden.last} - {stack.head_input} "
        f"({hidden.spec.nbytes_hint:,} bytes; the last two with residual_order=1)",
        f"last values cached for a reuse: {', '.join(others) or 'none'}"), fmt)
