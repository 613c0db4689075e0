"""Every figure says one thing under it, with its numbers, in names a reader reads.

The committed captions are checked as files (one ``<figcaption>`` per PNG, with a number and
nothing Markdown would rewrite inside ``<figure markdown="span">``); the figures themselves are
redrawn from ``results/`` with ``savefig`` captured, so their legends, titles and printed numbers
can be read as text: legends use ``loss_title`` names, small multiples keep few series per panel,
and the reliability diagrams print the table's ECE.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib.figure
import pytest
from support import GENERATED_DIR, PUBLISHED_DIR

from lossdemo.losses import loss_title
from lossdemo.report import captions
from lossdemo.report.experiment_report import RenderContext
from lossdemo.report.figures import epoch_axis_is_log
from lossdemo.report.render import render_experiment
from lossdemo.report.style import panel_title

FIGURES = sorted(GENERATED_DIR.glob("*.png"))
# A loss spec as code writes it ("focal:2", "gce:0.7", "ce"), standing as a word of its own.
SPEC_CODE = re.compile(r"(?<![\w:+-])(ce|mae|l1-logits|nce\+mae|(?:focal|gce|ls|la-ce|poly|cb-focal):[\d.]+|cb-ce\S*)"
                       r"(?![\w:+-])")


# --- the committed caption files ---------------------------------------------------------------

@pytest.mark.parametrize("figure", FIGURES, ids=lambda path: path.name)
def test_every_figure_has_a_caption_with_a_number(figure):
    caption = GENERATED_DIR / captions.caption_name(figure.name)
    assert caption.is_file(), f"{figure.name} has no {caption.name}; every figure gets a generated caption"
    text = caption.read_text()
    match = re.fullmatch(r"<figcaption>([^<>]+)</figcaption>\n", text)
    assert match, f"{caption.name} must be exactly one <figcaption> element on one line: {text!r}"
    assert re.search(r"\d", match[1]), f"{caption.name} states no number"
    assert not re.search(r"[*_`\[\]|#\\&]", match[1]), f"{caption.name} has characters Markdown would read"


def test_every_caption_belongs_to_a_figure_and_is_in_the_manifest():
    manifest = json.loads((GENERATED_DIR / "manifest.json").read_text())
    for caption in GENERATED_DIR.glob(f"*{captions.CAPTION_SUFFIX}"):
        figure = caption.name.removesuffix(captions.CAPTION_SUFFIX) + ".png"
        assert (GENERATED_DIR / figure).is_file(), f"{caption.name} has no figure"
        assert manifest.get(caption.name) == manifest.get(figure) is not None, \
            f"{caption.name} must be recorded with its figure's fingerprint"


def test_the_label_noise_matrix_is_one_row_per_loss_by_its_name():
    matrix = (GENERATED_DIR / "label_noise_mnist1d_matrix.md").read_text()
    rows = [line for line in matrix.splitlines() if line.startswith("| ") and not line.startswith("| loss")]
    names = [row.split("|")[1].strip() for row in rows]
    assert names and all(name == loss_title(spec) for name, spec in zip(names, _label_noise_losses()))
    assert all(re.fullmatch(r"\d+\.\d ± \d+\.\d|\d+\.\d \(.*\)|—", cell.strip())
               for row in rows for cell in row.split("|")[2:-1])


def _label_noise_losses() -> list[str]:
    table = (GENERATED_DIR / "label_noise_mnist1d_table.md").read_text()
    return list(dict.fromkeys(re.findall(r"^\| 0 % symmetric \| `([^`]+)`", table, flags=re.MULTILINE)))


# --- caption text ------------------------------------------------------------------------------

def test_a_caption_without_a_number_or_with_markdown_is_refused():
    assert captions.figcaption("CE keeps 60.0 ± 1.6 %.") == "<figcaption>CE keeps 60.0 ± 1.6 %.</figcaption>\n"
    with pytest.raises(ValueError, match="no number"):
        captions.figcaption("CE memorises the flipped labels.")
    with pytest.raises(ValueError, match="Markdown or HTML"):
        captions.figcaption("p_y = 0.1 and *bold*")


def test_every_figure_of_a_report_needs_a_caption():
    with pytest.raises(ValueError, match="without a caption"):
        captions.with_captions({"accuracy.png": lambda path: path, "table.md": lambda path: path}, {})
    outputs = captions.with_captions({".png": lambda path: path}, {".png": lambda: "1 figure"})
    assert set(outputs) == {".png", "caption.md"}


def test_the_epoch_axis_is_logarithmic_only_when_run_lengths_differ_a_lot():
    assert epoch_axis_is_log([50, 200]) and not epoch_axis_is_log([25, 25]) and not epoch_axis_is_log([40, 50])


def test_a_long_loss_name_breaks_before_its_parameter():
    assert panel_title("Generalized cross-entropy (q = 0.7)") == "Generalized cross-entropy\n(q = 0.7)"
    assert panel_title("MAE") == "MAE"


# --- the figures, redrawn from results/ with savefig captured ------------------------------------

@pytest.fixture(scope="module")
def drawn(tmp_path_factory) -> dict[str, matplotlib.figure.Figure]:
    """{figure file name: the Figure as drawn} for every experiment, from the committed runs."""
    if not (PUBLISHED_DIR / "runs").is_dir():
        pytest.skip("no committed results in results/runs")
    from lossdemo.reproduce import plan_for_flags
    from lossdemo.results import load_runs

    plan = plan_for_flags(["--full"])
    runs = plan.runs_of(load_runs(PUBLISHED_DIR)[0])
    out = tmp_path_factory.mktemp("figures")
    figures: dict[str, matplotlib.figure.Figure] = {}

    def capture(figure, path, **_):
        figures[Path(path).name] = figure

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matplotlib.figure.Figure, "savefig", capture)
        for name, configs in plan.by_experiment.items():
            wanted = {config.run_id for config in configs}
            render_experiment(name, [run for run in runs if run.config.run_id in wanted], out, RenderContext())
    figures["rendered_to"] = out
    return figures


def _texts(figure) -> list[str]:
    """Legend entries, panel titles and tick labels of the y axis (a heatmap's rows): where a loss is named."""
    legends = list(figure.legends) + [axis.get_legend() for axis in figure.axes if axis.get_legend()]
    texts = [text.get_text() for legend in legends for text in legend.get_texts()]
    texts += [axis.get_title() for axis in figure.axes]
    texts += [label.get_text() for axis in figure.axes for label in axis.get_yticklabels()]
    return texts


def test_legends_and_panels_name_losses_as_a_reader_does(drawn):
    offending = {name: found for name, figure in drawn.items() if name != "rendered_to"
                 for found in [[text for text in _texts(figure) if SPEC_CODE.search(text)]] if found}
    assert not offending, f"spec codes where loss_title names belong: {offending}"
    compare = _texts(drawn["compare_mnist1d.png"])
    assert any(text.startswith(loss_title("focal:2")) for text in compare)


def test_the_label_noise_figure_is_small_multiples_of_few_series(drawn):
    figure = drawn["label_noise_mnist1d_accuracy.png"]
    panels = [axis for axis in figure.axes if axis.get_legend_handles_labels()[1]]
    assert [axis.get_title() for axis in panels] == [panel_title(loss_title(spec)) for spec in
                                                     sorted(_label_noise_losses(), key=lambda spec: spec != "ce")]
    for axis in panels:
        series = set(axis.get_legend_handles_labels()[1])
        assert len(series) <= 4, f"{axis.get_title()!r} draws {len(series)} series: {sorted(series)}"


def test_the_memorisation_figure_contrasts_ce_with_the_robust_losses(drawn):
    figure = drawn["label_noise_mnist1d_memorisation.png"]
    titles = [axis.get_title() for axis in figure.axes if axis.get_legend_handles_labels()[1]]
    assert titles == [panel_title(loss_title(spec)) for spec in ("ce", "gce:0.7", "mae")]


def test_the_reliability_panels_print_the_tables_ece(drawn):
    figure = drawn["gamma_sweep_mnist1d_reliability.png"]
    table = (GENERATED_DIR / "gamma_sweep_mnist1d_table.md").read_text()
    fair_ece = {float(gamma): ece for gamma, ece in
                re.findall(r"^\| tuned \| ([\d.]+) \| `[^`]+` \|[^|]*\|[^|]*\|[^|]*\| ([^|]+) \|", table, flags=re.MULTILINE)}
    printed = {}
    for axis in figure.axes:
        gamma = float(re.search(r"γ = ([\d.]+)", axis.get_title())[1])
        printed[gamma] = next(text.get_text() for text in axis.texts if text.get_text().startswith("ECE"))
    assert len(printed) == 3 and 0.0 in printed
    for gamma, text in printed.items():
        assert text == f"ECE {fair_ece[gamma].strip()} %", f"γ = {gamma:g}: figure {text!r}, table {fair_ece[gamma]!r}"
    caption = (GENERATED_DIR / "gamma_sweep_mnist1d_reliability_caption.md").read_text()
    assert all(text in caption for text in printed.values())


def test_the_committed_captions_are_what_the_runs_give(drawn):
    out = drawn["rendered_to"]
    stale = [path.name for path in out.glob(f"*{captions.CAPTION_SUFFIX}")
             if path.read_text() != (GENERATED_DIR / path.name).read_text()]
    assert not stale, f"captions differ from what results/ gives (rerun --plots-only): {stale}"
