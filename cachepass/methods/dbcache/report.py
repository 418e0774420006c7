"""DBCache's words for the block stack in its report and dump: the Fn blocks decide, the middle blocks are
skipped, the Bn blocks always run."""

from __future__ import annotations

from ...compiler.blocks import block_table
from .rewrite import DBStack


def block_report(db: DBStack, fmt: str = "simple") -> str:
    stack, last = db.stack, len(db.stack.blocks) - db.Bn - 1
    cached = ", ".join(f"{stack.streams[i].name} ({stack.streams[i].spec.nbytes_hint:,} bytes)" for i in db.cached)
    roles = " ".join("F" if i < db.Fn else "M" if i <= last else "B" for i in range(len(stack.blocks)))
    return block_table(stack, None, (
        f"F{db.Fn}B{db.Bn}: blocks by role (F = always run and decide, M = skipped on reuse steps, B = always run): "
        f"{roles}",
        f"decision: the Fn residual of stream {stack.hidden_stream.name} = {db.fn_output} - {stack.head_input}",
        f"middle residuals cached for: {cached or 'none'}",
        f"cut after {stack.blocks[db.Fn - 1].name}: head {len(db.head_nodes)} nodes, {len(db.crossing)} values "
        f"handed to the tail"), fmt)
