"""Implementation profiles: the behaviour switches of the reference server model.

PURE. This package owns the ``Profile`` value and the profile table: ``switches``
(the value), ``gearmand``, ``perl`` and ``gear`` (what each peer does),
``table`` (every profile by name, the spec profile, lookup). Each field
of a Profile is one behaviour on which real Gearman servers are known to differ
(spec/profiles.yaml says which facts-file entry each value comes from); the
model reads switches, never a profile's name.

The table is typed twice on purpose: as the Python literal ``PROFILE_TABLE``
below (the core must not read files at import) and as spec/profiles.yaml (the
language-neutral copy). tests/unit/test_model_profiles.py fails when they differ.

Only what the evidence shows (spec/evidence.md) is a switch. Where a peer's behaviour is unknown the
profile takes the gearmand value and says so in its ``notes``.
"""

from __future__ import annotations

from gearsim.model.profiles.switches import SPEC_PROFILE, Defect, Profile
from gearsim.model.profiles.table import DEFAULT_PROFILE, PROFILE_TABLE, PROFILES, get_profile

__all__ = ["DEFAULT_PROFILE", "PROFILES", "PROFILE_TABLE", "SPEC_PROFILE", "Defect", "Profile", "get_profile"]
