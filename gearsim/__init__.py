"""gearsim: a conformance kit for the Gearman job-queue protocol.

The names below are the public Python API (documented in ``gearsim.api``,
guarded by ``tests/unit/test_public_api.py``); the rest of the package is
internal. The command line is ``gearsim`` (``gearsim.cli``), the pytest
plugin ``gearsim.testing.pytest_plugin``.
"""

from gearsim import _moved
from gearsim import api as _api
from gearsim.api import *  # noqa: F403  the public surface is gearsim.api.__all__, listed once there

__all__: list[str] = []
__all__ += _api.__all__

# modules that moved in the 0.2 layout stay importable under their old names for one release
_moved.install()
