"""Shared test configuration: the real-peer fixtures (gearmand_c, perl_gearman_server, gear_server)."""

pytest_plugins = ["gearsim.testing.peer_fixtures"]
