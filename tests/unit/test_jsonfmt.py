"""payouts.jsonfmt writes exactly what json.dumps(indent=2, ensure_ascii=False[, sort_keys]) writes:
for the plain values it handles itself and, through json.dumps, for everything else."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payouts.jsonfmt import dumps_indented

pytestmark = pytest.mark.unit

_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=8) | st.sampled_from(
    ['"', "\\", "/", "\b", "\n", "\x00", "\x1f", "\x7f", "\u2028", "é", "😀", "\ud800", ""]
)
_PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**300), max_value=2**300) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=30,
)
# values it hands to json.dumps: floats, tuples, int keys, bool subclasses of int keys ...
_ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | _TEXT,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(_TEXT | st.integers(min_value=0, max_value=9), inner, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_PLAIN, st.booleans())
def test_plain_values_equal_json_dumps(value: object, sort_keys: bool) -> None:
    assert dumps_indented(value, sort_keys=sort_keys) == json.dumps(
        value, indent=2, ensure_ascii=False, sort_keys=sort_keys
    )


@settings(max_examples=300, deadline=None)
@given(_ANY, st.booleans())
def test_any_json_value_equals_json_dumps(value: object, sort_keys: bool) -> None:
    try:
        expected = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=sort_keys)
    except TypeError:  # json.dumps cannot sort mixed int and str keys: neither can we
        with pytest.raises(TypeError):
            dumps_indented(value, sort_keys=sort_keys)
        return
    assert dumps_indented(value, sort_keys=sort_keys) == expected


def test_sorted_keys_at_every_level() -> None:
    value = {"b": {"z": 1, "a": [{"y": None, "x": True}]}, "a": "é"}
    assert dumps_indented(value, sort_keys=True) == (
        '{\n  "a": "é",\n  "b": {\n    "a": [\n      {\n        "x": true,\n'
        '        "y": null\n      }\n    ],\n    "z": 1\n  }\n}'
    )
    assert dumps_indented(value).startswith('{\n  "b": {\n    "z": 1,')  # given order kept
