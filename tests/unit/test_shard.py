"""gearsim.run.shard: K/N shards cover every case and every seed exactly once, stably."""

from __future__ import annotations

import functools
import hashlib
import subprocess
import sys
from collections import Counter

import pytest

from gearsim.files import select
from gearsim.run.shard import WHOLE, Shard, parse_shard, shard_of, shard_of_seed, split, split_seeds


@functools.cache
def _bundled_ids() -> list[str]:
    selection = select([])
    return [f"{vf.name}::{case}" for vf in selection.files for case in selection.chosen(vf)]


SYNTHETIC = [f"area{i % 7}/file{i % 13}.yaml::case-{i}" for i in range(1000)]


@pytest.mark.parametrize("total", [1, 2, 3, 4, 5, 8, 13])
def test_bundled_cases_are_each_in_exactly_one_shard(total: int) -> None:
    ids = _bundled_ids()
    assert len(ids) > 100 and len(set(ids)) == len(ids)
    seen: Counter[str] = Counter()
    for index in range(1, total + 1):
        seen.update(split(ids, Shard(index, total)))
    assert set(seen) == set(ids)
    assert set(seen.values()) == {1}


def test_split_keeps_the_given_order() -> None:
    part = split(SYNTHETIC, Shard(2, 3))
    assert part == [i for i in SYNTHETIC if i in set(part)]
    assert part and len(part) < len(SYNTHETIC)


def test_shards_are_roughly_even() -> None:
    sizes = Counter(shard_of(i, 4) for i in SYNTHETIC)
    assert sorted(sizes) == [1, 2, 3, 4]
    assert min(sizes.values()) >= 200, sizes  # 250 expected each


def test_the_assignment_is_pinned() -> None:
    # the same on every machine and release: a CI matrix may mix versions of its runners
    assert shard_of("server/status.yaml::queued-job", 4) == 4
    assert shard_of("codec/framing.yaml::bad-magic", 3) == 3
    assert shard_of("anything", 1) == 1
    for case_id in SYNTHETIC[:50]:
        digest = hashlib.sha256(case_id.encode()).digest()
        assert shard_of(case_id, 6) == int.from_bytes(digest[:8], "big") % 6 + 1


def test_the_assignment_does_not_depend_on_hash_randomisation() -> None:
    code = "from gearsim.run.shard import shard_of; print([shard_of(f'f.yaml::c{i}', 5) for i in range(40)])"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], env={"PYTHONHASHSEED": seed}, capture_output=True, text=True, check=True
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outs) == 1
    assert outs.pop().strip() == str([shard_of(f"f.yaml::c{i}", 5) for i in range(40)])


@pytest.mark.parametrize("total", [1, 2, 3, 7])
def test_seeds_are_each_in_exactly_one_shard_and_even(total: int) -> None:
    seeds = list(range(-5, 200))
    parts = [split_seeds(seeds, Shard(k, total)) for k in range(1, total + 1)]
    assert sorted(s for part in parts for s in part) == seeds
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert all(Shard(k + 1, total).holds_seed(s) for k, part in enumerate(parts) for s in part)
    assert shard_of_seed(total, total) == 1


@pytest.mark.parametrize(("text", "shard"), [("1/1", WHOLE), ("2/4", Shard(2, 4)), (" 3 / 3 ", Shard(3, 3))])
def test_parse_shard(text: str, shard: Shard) -> None:
    assert parse_shard(text) == shard
    assert parse_shard(str(shard)) == shard


@pytest.mark.parametrize("text", ["", "1", "0/3", "4/3", "1/0", "a/b", "-1/3", "1/3/5", "1.0/2"])
def test_parse_shard_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="K/N"):
        parse_shard(text)


def test_shard_checks_its_fields() -> None:
    with pytest.raises(ValueError):
        Shard(0, 2)
    with pytest.raises(ValueError):
        shard_of("x", 0)
    with pytest.raises(ValueError):
        shard_of_seed(1, 0)
