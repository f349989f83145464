"""Vector files as values (PURE): parsing, typed cases, canonical text, codec checks, lint, matching.

``parse`` (schema check and parsing into typed objects), ``cases`` (the typed
objects: cases, steps, patterns), ``text`` (canonical text and the YAML form of
bytes), ``codec_checks`` (codec cases against the codec and validator),
``lint`` (every finding that makes a file unacceptable), ``matching`` (what
was received against what a vector expects) and ``program_matching`` (the same
for program cases). Files are read by ``gearsim.files``; this package takes text.

``from gearsim.vectors import VectorFile`` keeps working as it did when this was one module.
"""

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
