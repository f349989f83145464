"""Vector files as values (PURE): parsing, typed cases, canonical text, codec checks, lint, matching.

``parse`` (schema check and parsing into typed objects), ``cases`` (the typed
objects: cases, steps, patterns), ``text`` (canonical text and the YAML form of
bytes), ``codec_checks`` (codec cases against the codec and validator),
``lint`` (every finding that makes a file unacceptable), ``matching`` (what
was received against what a vector expects) and ``program_matching`` (the same
for program cases). Files are read by ``gearsim.files``; this package takes text.

``from gearsim.vectors import VectorFile`` keeps working as it did when this was one module.
Those names are loaded on first use (PEP 562): ``parse`` imports jsonschema, about 0.25 s of
CPU that every import of a ``gearsim.vectors`` module paid (``gearsim check`` needs ``cases``,
for the library judge's reply patterns, and no schema).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gearsim.vectors.parse import (
        SCHEMA_ID,
        AdminPattern,
        Alternative,
        AnyValue,
        Capture,
        Case,
        DecodeExpectation,
        ExitExpectation,
        Fragment,
        LineMatch,
        LineParts,
        OutputMatch,
        PacketPattern,
        Program,
        Reaction,
        Ref,
        Step,
        VectorFile,
        dump_vector_file,
        format_bytes,
        hex_of,
        parse_vector_file,
        parse_vector_text,
    )

__all__ = [
    "SCHEMA_ID",
    "AdminPattern",
    "Alternative",
    "AnyValue",
    "Capture",
    "Case",
    "DecodeExpectation",
    "ExitExpectation",
    "Fragment",
    "LineMatch",
    "LineParts",
    "OutputMatch",
    "PacketPattern",
    "Program",
    "Reaction",
    "Ref",
    "Step",
    "VectorFile",
    "dump_vector_file",
    "format_bytes",
    "hex_of",
    "parse_vector_file",
    "parse_vector_text",
]


def __getattr__(name: str) -> Any:
    """The names of ``__all__`` from ``gearsim.vectors.parse``, imported when first asked for.

    Raises:
        AttributeError: ``name`` is neither one of them nor a submodule.
    """
    if name in __all__:
        return getattr(import_module("gearsim.vectors.parse"), name)
    raise AttributeError(f"module 'gearsim.vectors' has no attribute {name!r}")
