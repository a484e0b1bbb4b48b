"""CSR tables and ring buffers: exact positions, slots and memory per synapse."""

from __future__ import annotations

import torch

from axonal.sim.delivery import RingBuffer, build_table, synapse_positions


def test_synapse_positions_are_the_rows_in_order() -> None:
    indptr = torch.tensor([0, 2, 2, 5, 6])
    assert synapse_positions(indptr, torch.tensor([0, 2])).tolist() == [0, 1, 2, 3, 4]
    assert synapse_positions(indptr, torch.tensor([3, 0])).tolist() == [5, 0, 1]
    assert synapse_positions(indptr, torch.tensor([1])).tolist() == []


def test_build_table_round_trip_and_bytes() -> None:
    pre = torch.tensor([2, 0, 2, 1, 0])
    post = torch.tensor([0, 1, 1, 3, 2])
    w = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    d = torch.tensor([1, 2, 3, 1, 1])
    t = build_table(3, pre, post, w, d)
    assert t.indptr.tolist() == [0, 2, 3, 5]
    p2, q2, w2, d2 = t.to_arrays()
    got = sorted(zip(p2.tolist(), q2.tolist(), w2.tolist(), d2.tolist()))
    assert got == sorted(zip(pre.tolist(), post.tolist(), w.tolist(), d.tolist()))
    assert t.delay is not None and t.delay.dtype == torch.uint8 and t.delay_steps == 3
    assert t.nbytes == 4 * 8 + 5 * (4 + 4 + 1)
    # one weight and one delay: 4 bytes per synapse (+ row pointers)
    h = build_table(3, pre, post, torch.tensor(0.5), 2)
    assert h.delay is None and h.nbytes == 4 * 8 + 5 * 4 + 4
    # equal per-synapse delays collapse to one
    assert build_table(3, pre, post, w, torch.full((5,), 4)).delay is None


def test_ring_buffer_delivers_in_the_right_slots() -> None:
    pre = torch.tensor([0, 0, 1])
    post = torch.tensor([1, 2, 2])
    table = build_table(2, pre, post, torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64),
                        torch.tensor([1, 3, 2]))
    ring = RingBuffer(4, 3, torch.float64)
    assert ring.deliver(table, torch.tensor([0, 1]), step=5) == 3
    expected = {6: [0, 1, 0], 7: [0, 0, 4], 8: [0, 0, 2]}
    for step in range(5, 10):
        assert ring.due(step).tolist() == expected.get(step, [0, 0, 0]), step
        ring.clear(step)
    assert float(ring.data.abs().sum()) == 0.0
    # homogeneous weight/delay path, repeated targets accumulate
    table = build_table(2, pre, post, torch.tensor(0.5), 2)
    ring = RingBuffer(3, 3, torch.float32)
    ring.deliver(table, torch.tensor([0, 1]), step=0)
    assert ring.due(2).tolist() == [0.0, 0.5, 1.0]


def test_counting_sort_equals_stable_argsort() -> None:
    import numpy as np

    from axonal.sim.native import csr_order, native_available

    if not native_available():
        return
    g = torch.Generator().manual_seed(0)
    pre = torch.randint(0, 50, (5000,), generator=g)
    indptr = torch.zeros(51, dtype=torch.int64)
    torch.cumsum(torch.bincount(pre, minlength=50), 0, out=indptr[1:])
    order = csr_order(pre, indptr)
    assert order is not None
    np.testing.assert_array_equal(order.numpy(), np.argsort(pre.numpy(), kind="stable"))
