"""Indented JSON exactly as ``json.dumps(obj, indent=2, ensure_ascii=False[, sort_keys=True])``,
written directly (several times faster than the stdlib's pure-Python indenting encoder, which
``indent`` selects). Used for the Transaction Builder batch files (keys in the builder's order) and
the manifest (sorted keys). Values other than str/int/bool/None and dicts with str keys and lists
of them go to ``json.dumps`` itself, so the bytes are the standard library's in every case; tests
pin both paths to ``json.dumps`` (tests/unit/test_jsonfmt.py)."""

from __future__ import annotations

import json
from json.encoder import encode_basestring as _encode_str  # ensure_ascii=False's escaper (C)


class _NotPlain(Exception):
    pass


def dumps_indented(obj: object, *, sort_keys: bool = False) -> str:
    """``json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=sort_keys)``, byte for byte."""
    parts: list[str] = []
    try:
        _dump(obj, "\n", parts, sort_keys)
    except _NotPlain:  # anything beyond str/int/bool/None/dict(str keys)/list: the standard encoder
        return json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=sort_keys)
    return "".join(parts)


def _dump(obj: object, newline: str, out: list[str], sort_keys: bool) -> None:
    """Append the JSON of `obj` to `out`; `newline` is "\\n" + the current indent. A container's
    scalar members are written inline with their key or separator (one piece each, no call);
    containers recurse; anything else raises `_NotPlain`."""
    if isinstance(obj, str):
        out.append(_encode_str(obj))
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif type(obj) is int:
        out.append(int.__repr__(obj))
    elif type(obj) is dict:
        if not obj:
            out.append("{}")
            return
        for key in obj:
            if type(key) is not str:
                raise _NotPlain
        inner = newline + "  "
        sep = "{" + inner
        for key, value in sorted(obj.items()) if sort_keys else obj.items():
            tv = type(value)
            if tv is str:
                out.append(f"{sep}{_encode_str(key)}: {_encode_str(value)}")
            elif value is None:
                out.append(f"{sep}{_encode_str(key)}: null")
            else:
                out.append(f"{sep}{_encode_str(key)}: ")
                _dump(value, inner, out, sort_keys)
            sep = "," + inner
        out.append(newline + "}")
    elif type(obj) is list:
        if not obj:
            out.append("[]")
            return
        inner = newline + "  "
        sep = "[" + inner
        for value in obj:
            if type(value) is str:
                out.append(sep + _encode_str(value))
            else:
                out.append(sep)
                _dump(value, inner, out, sort_keys)
            sep = "," + inner
        out.append(newline + "]")
    else:
        raise _NotPlain
