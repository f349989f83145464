"""gearsim in other people's test suites: the pytest plugin, peer fixtures, hypothesis strategies."""
