"""YAML that someone else wrote, loaded within bounds (PURE: text in, data out).

Vector files and scenarios come from users, and YAML can make a small text
cost without end: aliases that expand ninefold per level (a 700-byte "billion
laughs" file), nesting so deep that the loader runs out of stack, an alias to
its own anchor (a structure that never ends). ``load_yaml`` refuses each of
these with one line that names the YAML line, before building anything:

* text longer than ``MAX_TEXT`` characters, or with more than ``MAX_NODES``
  nodes (the bundled files have a few thousand);
* collections nested deeper than ``MAX_DEPTH``;
* aliases that would add more than ``MAX_ALIAS_EXPANSION`` nodes and
  characters to the document, counting every use of an alias in full (the
  size of what a reader such as a schema check or the canonical dump walks);
* an alias to an anchor whose collection has not ended (a cycle);
* an integer longer than ``MAX_INT_CHARS`` characters (Python refuses to
  convert more than 4,300 digits, and no field needs more than twenty);
* a key given twice in one mapping (YAML requires keys to be unique; PyYAML
  would silently keep the last, so a second ``steps:`` would hide the first).

The check walks libyaml's event stream (no recursion, no objects built), then
libyaml loads the text with PyYAML's safe constructor (plain PyYAML when
libyaml is missing). Everything here is the safe subset: no Python tags.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import yaml

__all__ = [
    "MAX_ALIAS_EXPANSION",
    "MAX_DEPTH",
    "MAX_INT_CHARS",
    "MAX_NODES",
    "MAX_TEXT",
    "SafeDumper",
    "YamlInputError",
    "load_yaml",
]

#: longest YAML text accepted (characters); files.py applies it to file sizes
MAX_TEXT: Final[int] = 64 * 1024 * 1024
#: deepest nesting of mappings and sequences (vector files need about 8)
MAX_DEPTH: Final[int] = 64
#: most nodes plus scalar characters that aliases may add to a document
MAX_ALIAS_EXPANSION: Final[int] = 1_000_000
#: most nodes (scalars, collections, aliases) in a document: each costs microseconds and ~500 bytes
MAX_NODES: Final[int] = 1_000_000

#: longest integer scalar (characters, sign and underscores included)
MAX_INT_CHARS: Final[int] = 64

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"
#: the fastest safe dumper available (libyaml's emitter writes what PyYAML's does)
SafeDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class YamlInputError(ValueError):
    """YAML text that is not valid, or that exceeds a bound; the message names the line."""

    def __init__(self, message: str, line: int | None = None, *, invalid: bool = False) -> None:
        what = "not valid YAML" if invalid else "YAML"
        at = f"{what} line {line}" if line is not None else what
        super().__init__(f"{at}: {message}")
        self.line = line


class _BoundedLoader(_Loader):  # type: ignore[misc]  # libyaml's when installed
    """The safe loader, refusing duplicate keys and integers too long to convert."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE:
                key = (key_node.tag, key_node.value)
                if key in seen:
                    shown = key_node.value if len(key_node.value) <= 40 else key_node.value[:40] + "..."
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {shown!r} is given twice in one mapping", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node: Any) -> Any:
        if len(node.value) > MAX_INT_CHARS:
            raise yaml.constructor.ConstructorError(
                None, None, f"an integer of {len(node.value):,} characters, more than {MAX_INT_CHARS}", node.start_mark
            )
        return super().construct_yaml_int(node)


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)


def _line(event: Any) -> int | None:
    mark = getattr(event, "start_mark", None)
    return None if mark is None else int(mark.line) + 1


def _check_events(text: str, max_depth: int, max_alias_expansion: int, max_nodes: int) -> None:
    """Walk the event stream once: depth, alias expansion and cycles, without building data."""
    # one [anchor, size] per open collection; size is nodes + scalar characters, aliases in full
    open_: list[list[Any]] = [[None, 0]]
    sizes: dict[str, int] = {}
    opened: set[str] = set()
    added = 0
    events: Iterable[Any] = yaml.parse(text, Loader=_Loader)
    for count, event in enumerate(events):
        if count > max_nodes:
            raise YamlInputError(f"more than {max_nodes:,} nodes", _line(event))
        kind = type(event)
        if kind is yaml.ScalarEvent:
            size = 1 + len(event.value)
            if event.anchor is not None:
                sizes[event.anchor] = size
            open_[-1][1] += size
        elif kind is yaml.AliasEvent:
            anchor = event.anchor
            if anchor in opened:
                raise YamlInputError(f"alias *{anchor} refers to a collection that contains it", _line(event))
            size = sizes.get(anchor, 1)  # an undefined anchor is the loader's error to report
            added += size
            if added > max_alias_expansion:
                raise YamlInputError(
                    f"aliases expand the document by more than {max_alias_expansion:,} nodes and characters "
                    f"(at *{anchor})",
                    _line(event),
                )
            open_[-1][1] += size
        elif kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
            if len(open_) > max_depth:
                raise YamlInputError(f"nested deeper than {max_depth} levels", _line(event))
            if event.anchor is not None:
                opened.add(event.anchor)
            open_.append([event.anchor, 1])
        elif kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
            anchor, size = open_.pop()
            if anchor is not None:
                opened.discard(anchor)
                sizes[anchor] = size
            open_[-1][1] += size


def load_yaml(
    text: str,
    *,
    max_text: int = MAX_TEXT,
    max_depth: int = MAX_DEPTH,
    max_alias_expansion: int = MAX_ALIAS_EXPANSION,
    max_nodes: int = MAX_NODES,
) -> Any:
    """The data of one YAML document, within the bounds above.

    Raises:
        YamlInputError: not valid YAML (the message has the line and the
            problem), or a bound exceeded (the message says which and where).
    """
    if len(text) > max_text:
        raise YamlInputError(f"{len(text):,} characters, more than the limit of {max_text:,}")
    try:
        _check_events(text, max_depth, max_alias_expansion, max_nodes)
        return yaml.load(text, Loader=_BoundedLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlInputError(str(problem), None if mark is None else mark.line + 1, invalid=True) from None
