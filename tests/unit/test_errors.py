"""gearsim's own error values keep what they say across a pickle.

The capture check pickles a fresh model per profile and restores it for each
search; a model holding a decode error must come back with the same offset.
"""

from __future__ import annotations

import pickle

from gearsim.errors import BadMagic, UnknownType


def test_decode_errors_survive_pickling_with_their_offset_and_number() -> None:
    for error in (BadMagic("bad magic", offset=12), UnknownType("type 99", offset=7, number=99)):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert copy.offset == error.offset
        assert copy.__dict__ == error.__dict__
