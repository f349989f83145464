"""The profile table: every named profile, the neutral spec profile, and lookup by name.

PURE. This module owns ``PROFILE_TABLE`` (the data of every profile by name,
as spec/profiles.yaml holds it too), the ``spec`` profile's data (gearmand 1.1
with every known defect turned off, judged by the rules alone), ``PROFILES``
(the same as ``Profile`` values), ``DEFAULT_PROFILE`` and ``get_profile``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gearsim.model.profiles.gear import GEAR_016
from gearsim.model.profiles.gearmand import GEARMAND_11, GEARMAND_20
from gearsim.model.profiles.perl import PERL_1130
from gearsim.model.profiles.switches import SPEC_PROFILE, Profile

#: the neutral profile's data: gearmand 1.1 without its defects, taking gearmand's choice where the spec allows several
_SPEC: Final[dict[str, Any]] = {
    **GEARMAND_11,
    "name": SPEC_PROFILE,
    "summary": (
        "the spec alone: judges by the rules, accepts every behaviour a rule allows, and "
        "runs the model as a server without known defects"
    ),
    "notes": (
        "A neutral profile. Judging: an alternative outcome a vector lists is accepted "
        "whatever profiles it names unless it breaks a rule (breaks: SHOULD fails the run at "
        "--level should, a defect always fails); ERROR code words and texts are labels "
        "(GM-ERROR-003); cases written only for named profiles are n/a. Model: the gearmand "
        "1.1 switches with every known defect turned off, taking gearmand's choice where "
        "the spec allows several."
    ),
    "version": "gearsim-spec",
    "short_body": "close",
    "reduce_unique_check": "unique",
    "resubmit_abandoned": "revives",
    "listener_per_submission": False,
    "unique_max": 63,
    "unique_stored_max": None,
    "work_exception": "terminal-fail-to-others",
    "epoch_blocks_lower": False,
    "background_keeps_abandoned": True,
    "can_do_timeout_timer": "per-job",
    "can_do_timeout_overflow": "close",
    "maxqueue_remembers_unknown": True,
    "admin_order": "insertion",
    "admin_cancel": "end",
    "admin_drop_queued": "refuses",
    "admin_create_cuts_name": False,
    "defects": [],
}

#: the profile table; spec/profiles.yaml holds the same data
PROFILE_TABLE: Final[dict[str, dict[str, Any]]] = {
    "gearmand-1.1": GEARMAND_11,
    "gearmand-2.0": GEARMAND_20,
    "perl-1.130": PERL_1130,
    "gear-0.16": GEAR_016,
    SPEC_PROFILE: _SPEC,
}

PROFILES: Final[Mapping[str, Profile]] = {name: Profile.from_mapping(data) for name, data in PROFILE_TABLE.items()}
DEFAULT_PROFILE: Final[str] = "gearmand-1.1"


def get_profile(profile: Profile | str) -> Profile:
    """The Profile itself, or the table's profile of that name.

    Raises:
        KeyError: no profile has that name.
    """
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise KeyError(f"unknown profile {profile!r}; known: {sorted(PROFILES)}") from None
