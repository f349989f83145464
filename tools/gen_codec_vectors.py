#!/usr/bin/env python3
"""Generate the codec vector files under vectors/codec/ (Wycheproof habit: ids and form belong to a tool).

Writes three files, each in canonical form (gearsim.vectors.parse.dump_vector_file):

* ``packets.yaml``: every packet type 1..42 in every direction the packet
  table (spec/packets.yaml) gives it, with example values per field name; a
  second case with NULs inside the final blob for every blob packet;
  server-to-client types sent as requests; SUBMIT_REDUCE_JOB(_BACKGROUND) in
  the PROTOCOL document's 3-NUL layout.
* ``framing.yaml``: malformed, partial and borderline framing, binary and admin.
* ``admin.yaml``: one case per admin command (and its odd forms).

Wire bytes are framed here by hand (struct), not by gearsim.protocol.codec.encode, so
``gearsim lint`` checks the codec against an independent spelling.

Server reactions are those of gearmand 1.1.20+ds on a fresh connection to a
freshly started server. Each reaction names its evidence: a case of the probe
record spec/observed/gearmand-1.1.20-codec.yaml (``probe:<id>``), or a tag
of spec/evidence.md (``evidence:<tag>``). ``--check-observed``
compares every probe-backed reaction with that record (handles compared with
their host part and counter masked).

The generator lives in tools/codec_vectors/ (values and message helpers,
the cases of each file, the notes table, the build and probe check); this
file is its command line.

usage: python tools/gen_codec_vectors.py [--check] [--check-observed [PATH]]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

# the generator's modules live in tools/codec_vectors/, found through tools/ (this file's folder)
_TOOLS = str(Path(__file__).resolve().parent)
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)

from codec_vectors.driver import build, check_observed, render  # noqa: E402
from codec_vectors.values import PROBE_FILE  # noqa: E402

__all__ = ["build", "check_observed", "main", "render"]

ROOT: Final[Path] = Path(__file__).resolve().parent.parent
OUT_DIR: Final[Path] = ROOT / "vectors" / "codec"
OBSERVED: Final[Path] = ROOT / "spec" / "observed" / "gearmand-1.1.20-codec.yaml"


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or, with --check, compare) the files; with --check-observed, compare reactions with the probe."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed file differs from the output")
    parser.add_argument(
        "--check-observed",
        nargs="?",
        const=OBSERVED,
        type=Path,
        metavar="PATH",
        help=f"compare probe-backed reactions with a probe record (default {PROBE_FILE})",
    )
    args = parser.parse_args(argv)
    status = 0
    if args.check_observed is not None:
        problems = check_observed(args.check_observed)
        for p in problems:
            print(p, file=sys.stderr)
        status = 1 if problems else 0
        if not args.check:
            return status
    texts = render()
    if args.check:
        for name, text in texts.items():
            path = OUT_DIR / name
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                print(f"vectors/codec/{name} is stale: run python tools/gen_codec_vectors.py", file=sys.stderr)
                status = 1
        return status
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (OUT_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote vectors/codec/{name}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
