#!/usr/bin/env bash
# The test command: static checks, then every test. Run from anywhere.
# Set GEARSIM_REQUIRE_PEERS=1 to make a missing real peer fail instead of skip.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== ruff";          ruff check gearsim tests tools && ruff format --check -q gearsim tests tools
echo "== mypy --strict"; mypy
echo "== packet table";  python tools/gen_table.py --check
echo "== vector lint";   gearsim lint
echo "== spec";          python tools/build_spec.py --check
echo "== pytest";        python -m pytest -q "$@"
