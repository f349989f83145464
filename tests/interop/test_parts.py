"""The cut the slow interop tests make: every case plays, once, in its order, in parts of even length."""

from __future__ import annotations

import pytest
from parts import consecutive


@pytest.mark.parametrize("parts", [1, 2, 3, 4])
@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 10, 350])
def test_every_item_is_in_exactly_one_run_in_order(count: int, parts: int) -> None:
    items = [f"case-{i}" for i in range(count)]
    runs = consecutive(items, parts)
    assert [item for run in runs for item in run] == items
    assert len(runs) == min(count, parts)
    assert all(runs), "no run is empty"
    if runs:
        assert max(map(len, runs)) - min(map(len, runs)) <= 1


def test_ten_cases_in_four_parts_are_three_three_two_two() -> None:
    assert [len(run) for run in consecutive(list(range(10)), 4)] == [3, 3, 2, 2]


def test_no_parts_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot cut into 0 parts"):
        consecutive([1, 2], 0)
