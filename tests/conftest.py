"""Shared test configuration: the real-peer fixtures (gearmand_c, perl_gearman_server, gear_server).

``data/`` holds inputs of tests, not tests: a team's sample project whose
vectors fail on purpose (tests/plugin runs it with pytester), client programs
and captures. ``pytest tests`` collects vector files under a folder named on
the command line, so it must not walk into it.
"""

collect_ignore = ["data"]

pytest_plugins = ["gearsim.testing.peer_fixtures"]
