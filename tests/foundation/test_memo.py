"""The bounded memo behind the resolver's and the renderer's caches."""

from __future__ import annotations

from worker.memo import remember


def test_a_full_memo_forgets_its_oldest_quarter_and_keeps_the_rest() -> None:
    memo: dict[str, int] = {}
    for n in range(8):
        assert remember(memo, f"k{n}", n, 8) == n
    assert len(memo) == 8  # at the bound: nothing forgotten yet
    memo["k0"] = memo.pop("k0")  # stored again: now the newest
    assert remember(memo, "k8", 8, 8) == 8
    assert list(memo) == ["k3", "k4", "k5", "k6", "k7", "k0", "k8"]


def test_a_tiny_memo_still_forgets_something() -> None:
    memo: dict[int, int] = {}
    for n in range(10):
        remember(memo, n, n * n, 2)
    assert memo == {8: 64, 9: 81}
