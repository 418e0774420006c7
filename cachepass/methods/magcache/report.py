"""MagCache's words for the block stack in its report and dump: a step computes the whole stack or skips it,
adding the residual of the last computed step."""

from __future__ import annotations

from ...compiler.blocks import BlockStack, block_table


def block_report(stack: BlockStack, fmt: str = "simple") -> str:
    hidden = stack.hidden_stream
    return block_table(stack, None, (
        f"skipped as one: all {len(stack.blocks)} blocks, or none",
        f"residual cached for a skip: stream {hidden.name} = {hidden.last} - {stack.head_input} "
        f"({hidden.spec.nbytes_hint:,} bytes)"), fmt)
