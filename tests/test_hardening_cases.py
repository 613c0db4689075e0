"""The hardening tables: library misuse raises one-line errors, and the Reproduce page's tally is current.

The tally (docs/generated/hardening.md) is generated from the same tables the tests run, and every
guarantee it lists names a test that exists. Run: pytest tests/test_hardening_cases.py -q
"""

from __future__ import annotations

import ast

import pytest
from hardening_cases import BAD_INPUT_CASES, GUARANTEES, LIBRARY_CASES, TALLY_PATH, render_tally
from support import REPO_ROOT


def test_the_generated_tally_is_current():
    assert TALLY_PATH.is_file(), "run: python tests/hardening_cases.py"
    assert TALLY_PATH.read_text(encoding="utf-8") == render_tally(), (
        "docs/generated/hardening.md is stale; regenerate it with: python tests/hardening_cases.py")


def test_the_reproduce_page_includes_the_tally():
    page = (REPO_ROOT / "docs" / "reproduce.md").read_text(encoding="utf-8")
    assert '--8<-- "generated/hardening.md"' in page


def _test_functions(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


@pytest.mark.parametrize("guarantee", GUARANTEES, ids=[g.test.split("::")[1] for g in GUARANTEES])
def test_every_listed_guarantee_names_an_existing_test(guarantee):
    file, function = guarantee.test.split("::")
    assert function in _test_functions(REPO_ROOT / file), f"{guarantee.test} does not exist"


def test_every_case_is_listed_once():
    assert len({case.id for case in BAD_INPUT_CASES}) == len(BAD_INPUT_CASES)
    assert len({case.id for case in LIBRARY_CASES}) == len(LIBRARY_CASES)
    tally = render_tally()
    assert all(case.what in tally for case in BAD_INPUT_CASES + LIBRARY_CASES)


@pytest.mark.parametrize("case", LIBRARY_CASES, ids=[case.id for case in LIBRARY_CASES])
def test_library_misuse_raises_a_one_line_value_or_type_error(case):
    with pytest.raises((ValueError, TypeError)) as raised:
        case.call()
    message = str(raised.value)
    assert "\n" not in message
    for fragment in case.says:
        assert fragment in message, f"{fragment!r} not in {message!r}"
