"""The forward kernels' work items: (group, block of output channels, block of samples), numbered group-major."""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def forward_items(groups, c_out_g, co_block, n_batch, n_block):
    """How many forward work items (see forward_item)."""
    return groups * -(-c_out_g // co_block) * -(-n_batch // n_block)


@njit(cache=True)
def forward_item(item, c_out_g, co_block, n_batch, n_block):
    """Work item -> (group, channels c0..c1-1 of the group, samples n0..n1-1); items run group-major, then
    channel blocks, then sample blocks."""
    co_blocks = -(-c_out_g // co_block)
    n_blocks = -(-n_batch // n_block)
    g = item // (co_blocks * n_blocks)
    c0 = ((item // n_blocks) % co_blocks) * co_block
    n0 = (item % n_blocks) * n_block
    return g, c0, min(c_out_g, c0 + co_block), n0, min(n_batch, n0 + n_block)
