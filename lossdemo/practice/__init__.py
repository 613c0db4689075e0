"""Practice for the site's notebooks: checks that answer "correct" or "not yet, hint: …".

A learner writes a prediction in a variable, or edits a stub function, and calls a check. The
check computes what it compares against with the package itself (autograd for a gradient, the
package's own loss or metric for a coding task, the notebook's own runs for an experiment), so
no expected value is typed anywhere, and it never prints the answer it is looking for: the
worked answers sit in closed "Show the answer" boxes in the notebooks.

One module per job:

* :mod:`~lossdemo.practice.feedback`: what a check says (a verdict and one line);
* :mod:`~lossdemo.practice.push`: the push on the true logit, the tool of the formula questions;
* :mod:`~lossdemo.practice.questions`: the formula questions, ``check(name, answer)``;
* :mod:`~lossdemo.practice.coding`: the coding tasks' checks (GCE, ECE, early stopping);
* :mod:`~lossdemo.practice.seeds`: a few seeds per loss at the tuned rates, and their summary;
* :mod:`~lossdemo.practice.predictions`: a prediction about an experiment against its runs.
"""

from .coding import assess_best_epoch, assess_ece, assess_gce, check_best_epoch, check_ece, check_gce
from .feedback import Feedback, Verdict, mid_sentence, tell
from .predictions import assess_choice, assess_ranking, check_choice, check_ranking
from .push import push
from .questions import QUESTIONS, assess, check
from .seeds import SeedSummary, clearly_apart, learning_rates, ranked, seed_table, summarise, train_seeds

__all__ = [
    "QUESTIONS", "Feedback", "SeedSummary", "Verdict", "assess", "assess_best_epoch", "assess_choice", "assess_ece",
    "assess_gce", "assess_ranking", "check", "check_best_epoch", "check_choice", "check_ece", "check_gce",
    "check_ranking", "clearly_apart", "learning_rates", "mid_sentence", "push", "ranked", "seed_table", "summarise",
    "tell", "train_seeds",
]
