"""The exercises notebook, as a learner uses it: the hidden solutions pass its checks, wrong ones do not.

nbmake runs the notebook as committed, with every answer blank and every stub raising
``NotImplementedError``; that proves only that the blanks do not crash it. These tests fill the
blanks in: the solutions revealed in its closed "Show the solution" boxes are put in place of the
stubs and must be "correct", a slip in each must be "not yet", and (slow) the whole notebook runs
with every answer filled in, so the cells after a check see what a learner's session would.

    pytest tests/test_exercises_notebook.py -q
"""

from __future__ import annotations

import contextlib
import io
import json
import re

import pytest
from support import NOTEBOOK_DIR
from test_practice import RIGHT_ANSWERS

from lossdemo.practice import QUESTIONS

NOTEBOOK = NOTEBOOK_DIR / "exercises.ipynb"
FENCED_PYTHON = re.compile(r"```python\n(.*?)```", re.S)
# The coding tasks: (stub cell, check cell, solution cell), and a slip that must fail the check.
TASKS = {
    "gce": ("gce-stub", "gce-check", "gce-solution", (".mean()", ".sum()")),
    "ece": ("ece-stub", "ece-check", "ece-solution", (".abs()", "")),
    "stopping": ("stopping-stub", "stopping-check", "stopping-solution", (") + 1", ")")),
}
EXPERIMENT_ANSWERS = {"noise_ranking": ["ce", "gce:0.7", "mae"], "focal_temperature": "below 1",
                      "focal_ece_after_scaling": "lower"}


def _cells() -> list[dict]:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _cell(cell_id: str) -> str:
    (source,) = [_source(cell) for cell in _cells() if cell.get("id") == cell_id]
    return source


def _solution(cell_id: str) -> str:
    (code,) = FENCED_PYTHON.findall(_cell(cell_id))
    return code


def _run(*sources: str) -> str:
    """Run the notebook's imports, then ``sources``, as the kernel would; what they printed."""
    namespace: dict = {}
    imports = "\n".join(line for line in _cell("8eaf65e5").splitlines() if not line.startswith("%"))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for source in (imports, *sources):
            exec(compile(source, NOTEBOOK.name, "exec"), namespace)
    return printed.getvalue().split("\n", 1)[1]  # the imports cell prints one line


@pytest.mark.parametrize("task", TASKS)
def test_the_committed_stub_is_not_implemented_yet(task):
    stub, check, _, _ = TASKS[task]
    assert "raise NotImplementedError" in _cell(stub)
    assert _run(_cell(stub), _cell(check)).startswith("not implemented yet: ")


@pytest.mark.parametrize("task", TASKS)
def test_the_hidden_solution_in_place_of_the_stub_is_correct(task):
    _, check, solution, _ = TASKS[task]
    printed = _run(_solution(solution), _cell(check))
    assert printed.startswith("correct"), printed


@pytest.mark.parametrize("task", TASKS)
def test_a_slip_in_the_solution_is_not_yet(task):
    _, check, solution, (right, slip) = TASKS[task]
    assert right in _solution(solution)
    printed = _run(_solution(solution).replace(right, slip, 1), _cell(check))
    assert printed.startswith("not yet, hint: "), printed


def test_every_question_of_the_package_is_asked_in_the_notebook():
    asked = set(re.findall(r'\bcheck\("([\w-]+)"', "\n".join(_source(cell) for cell in _cells())))
    assert asked == set(QUESTIONS)


def _with_answers(cells: list[dict]) -> list[dict]:
    """The notebook's cells with every blank filled in as a learner would."""
    answers = {}
    for cell in cells:
        for name, variable in re.findall(r'\bcheck\("([\w-]+)", (\w+)\)', _source(cell)):
            answers[variable] = RIGHT_ANSWERS[name]
    answers |= EXPERIMENT_ANSWERS
    stubs = {TASKS[task][0]: _solution(TASKS[task][2]) for task in TASKS}
    filled = []
    for cell in cells:
        source = stubs.get(cell.get("id"), _source(cell))
        for variable, answer in answers.items():
            source = re.sub(rf"^{variable} = None\b", f"{variable} = {answer!r}", source, flags=re.M)
        filled.append(dict(cell, source=source))
    return filled


@pytest.mark.slow
def test_the_whole_notebook_with_every_answer_filled_in_says_correct_where_it_can(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.reads(NOTEBOOK.read_text(encoding="utf-8"), as_version=4)
    notebook.cells = [nbformat.from_dict(cell) for cell in _with_answers(notebook.cells)]
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = {cell.get("id"): "".join(output.get("text", "") for output in cell.outputs if output.output_type == "stream")
               for cell in notebook.cells if cell.cell_type == "code"}
    text = "\n".join(printed.values())
    assert "no answer yet" not in text and "not implemented yet" not in text
    formula_and_code = [printed[cell_id] for cell_id in printed
                        if cell_id.startswith("q") or cell_id in {TASKS[task][1] for task in TASKS}]
    assert len(formula_and_code) == len(QUESTIONS) + len(TASKS)
    assert all(line.startswith("correct") for line in formula_and_code), formula_and_code
    # The experiments' verdicts depend on the runs; a filled-in prediction gets one either way.
    for cell_id in ("noise-run", "temperature-run"):
        assert re.search(r"^(correct|not yet, hint): ", printed[cell_id], re.M), printed[cell_id]
    assert "stops at epochs" in printed["stopping-apply"]
