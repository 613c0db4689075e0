"""The site's hover glossary: every term and loss code a page may use, defined where it is read.

MkDocs' ``abbr`` extension turns ``*[term]: definition`` lines into hover definitions wherever the
term appears as a word; ``pymdownx.snippets`` appends this file to every page. Loss codes mostly
appear in code spans (`gce:0.7`), which abbreviations do not reach, so the same definitions travel as
JSON for ``docs/javascripts/glossary.js`` to attach to those spans. The loss codes come from the
experiments' own loss lists and their names from the loss registry, so a new loss is defined on every
page without a second list to edit.
"""

from __future__ import annotations

import json

from ..experiments import EXPERIMENTS
from ..losses import loss_title

GLOSSARY_FILE = "glossary.md"
GLOSSARY_ELEMENT_ID = "lossdemo-glossary"

# Terms in words. Keys are matched as whole words, case-sensitively.
TERMS: dict[str, str] = {
    "CE": "Cross-entropy: minus the log of the probability given to the true class.",
    "MAE": "Mean absolute error between the softmax probabilities and the one-hot label.",
    "GCE": "Generalized cross-entropy: (1 − p_y^q)/q, between cross-entropy (q → 0) and MAE (q = 1).",
    "NCE": "Normalized cross-entropy: cross-entropy divided by its sum over all candidate labels.",
    "ECE": "Expected calibration error: the average gap between confidence and accuracy over confidence bins "
           "(lower is better).",
    "NLL": "Negative log-likelihood of the true class on held-out data; a proper score of the probabilities "
           "(lower is better).",
    "SGD": "Stochastic gradient descent (here with momentum).",
    "Holm": "Holm's correction: adjusts p-values so that, over a whole family of tests, the chance of any false "
            "claim stays at the stated level.",
    "push": "The push on the true logit, −∂ℓ/∂z_y: how hard one gradient step raises the true class's score.",
}


def loss_codes() -> list[str]:
    """Every loss spec an experiment trains, in first-seen order."""
    return list(dict.fromkeys(loss for experiment in EXPERIMENTS.values() for loss in experiment.losses))


def glossary_entries() -> dict[str, str]:
    """Term or loss code -> its definition."""
    return {**TERMS, **{code: f"{loss_title(code)} (loss code {code})" for code in loss_codes()}}


def glossary_markdown() -> str:
    """The abbreviation lines and the JSON copy for code spans, appended to every page."""
    entries = glossary_entries()
    lines = [f"*[{term}]: {definition}" for term, definition in entries.items() if term in TERMS]
    payload = json.dumps(entries, ensure_ascii=False, sort_keys=True).replace("</", "<\\/")
    return ("\n".join(lines) + "\n\n"
            f'<script type="application/json" id="{GLOSSARY_ELEMENT_ID}">{payload}</script>\n')
