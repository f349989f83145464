"""gearsim: a conformance kit for the Gearman job-queue protocol.

The names below are the public Python API (documented in ``gearsim.api``,
guarded by ``tests/unit/test_public_api.py``); the rest of the package is
internal. The command line is ``gearsim`` (``gearsim.cli``), the pytest
plugin ``gearsim.testing.pytest_plugin``.

The API is loaded on first use (PEP 562): ``gearsim.api`` imports the runner,
the reports, the simulator and the TCP peers, about 0.3 s of CPU that every
``gearsim`` command and every ``import gearsim.<module>`` paid before it
did any work (a tenth of checking a 20 MB capture).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from gearsim import _moved

if TYPE_CHECKING:
    from gearsim.api import *  # noqa: F403  the public surface is gearsim.api.__all__, listed once there

# modules that moved in the 0.2 layout stay importable under their old names for one release
_moved.install()


def __getattr__(name: str) -> Any:
    """The public names (and ``__all__``, theirs) from ``gearsim.api``, imported when first asked for.

    Raises:
        AttributeError: ``name`` is neither a public name nor a submodule.
    """
    # import_module, not ``from gearsim import api``: that form asks this function for ``api`` first
    api = import_module("gearsim.api")
    if name == "__all__":
        return list(api.__all__)
    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module 'gearsim' has no attribute {name!r}")
