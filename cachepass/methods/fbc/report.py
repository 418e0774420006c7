"""FirstBlockCache's words for the block stack in its report and dump: the head piece decides, the tail pieces
are skipped, the first-block residual is compared and the tail residuals cached."""

from __future__ import annotations

from ...compiler.blocks import BlockStack, block_table


def block_report(stack: BlockStack, fmt: str = "simple") -> str:
    cached = ", ".join(f"{s.name} ({s.spec.nbytes_hint:,} bytes)" for s in stack.streams if s.cached) or "none"
    return block_table(stack, ("head (decides)", "tail"), (
        f"decision: first-block residual of stream {stack.hidden_stream.name} = "
        f"{stack.hidden_stream.head_output} - {stack.head_input}",
        f"tail residuals cached for: {cached}",
        f"cut after {stack.blocks[0].name}: head {len(stack.head_nodes)} nodes, "
        f"{len(stack.crossing)} values handed to the tail"), fmt)
