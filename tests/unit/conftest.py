"""Fixtures shared by the unit tests: ``registry``, the bundled requirement registry."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from mutant_judging import requirements

from gearsim.protocol.requirements import Requirement


@pytest.fixture(scope="module")
def registry() -> Mapping[str, Requirement]:
    return requirements()
