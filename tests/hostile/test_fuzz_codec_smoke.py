"""tools/fuzz_codec.py runs: a few hundred mutated streams through the codec, validator and log, no failure.

The long run (millions of inputs) is the tool's job; this keeps the tool
working and its mutations meaningful (some inputs decode, some do not).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))

import fuzz_codec  # noqa: E402

from gearsim.model import Server  # noqa: E402


def test_mutated_streams_decode_the_same_however_fed_and_reencode_exactly() -> None:
    pool = fuzz_codec.seeds()
    assert len(pool) > 150
    decoded = failed = 0
    for index in range(300):
        rng = random.Random(f"smoke:{index}")
        data = fuzz_codec.mutate(rng, rng.choice(pool), pool)
        assert fuzz_codec.run_one(rng, data, None, index) is None, (index, data)
        messages, error = fuzz_codec.feed(data, [data], 1 << 26)
        decoded += bool(messages)
        failed += error is not None
    assert decoded > 100 and failed > 30  # the mutations make both kinds


def test_the_model_takes_the_seeds_on_fresh_connections() -> None:
    servers = [Server("gearmand-1.1"), Server("perl-1.130")]
    for index, data in enumerate(fuzz_codec.seeds()):
        fuzz_codec.model(random.Random(index), data, servers, index)


def test_a_disagreement_between_feedings_is_found() -> None:
    whole = ([], "BadMagic@12")
    assert not fuzz_codec.agree(whole, ([], "BadMagic@0"))
    assert fuzz_codec.agree(whole, ([], "BadMagic@12"))
