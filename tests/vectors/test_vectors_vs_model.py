"""Every bundled lifecycle vector case passes (or is acceptable) against the reference model.

The model runs inside the simulator in virtual time (gearsim.run.model_peer), under
profile gearmand-1.1, with each case's options. Ids are ``file::case``.
"""

from __future__ import annotations

import pytest
from lifecycle_vectors import PROFILE, Bundled, assert_ok, bundled_cases, params

from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.runner import run_case

CASES = bundled_cases()


def test_lifecycle_cases_found() -> None:
    assert len(CASES) > 50, "the bundled lifecycle vectors are missing"


@pytest.mark.parametrize("bundled", params(CASES))
def test_case_against_model(bundled: Bundled) -> None:
    factory = ModelPeerFactory(profile=PROFILE)
    assert_ok(run_case(bundled.vf, bundled.case, factory, PROFILE))
