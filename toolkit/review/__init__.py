"""Human review of stored runs: marks kept with the run, a random sample, and prediction-powered rates.

``Review`` (``session``) is the pure-Python API the notebook pane, the CLI and scripts share; ``MarkStore``
(``marks``) keeps the marks beside the run's answers; ``corrected_rates`` (``rates``) turns judge verdicts and human
labels into judge-only and prediction-powered hallucination rates. MLflow I/O lives in ``toolkit.tracking.human``.
"""

from toolkit.registry import lazy_exports

_EXPORTS = {
    "Review": "toolkit.review.session:Review",
    "HumanMark": "toolkit.review.marks:HumanMark",
    "MarkStore": "toolkit.review.marks:MarkStore",
    "MarkError": "toolkit.review.marks:MarkError",
    "corrected_rates": "toolkit.review.rates:corrected_rates",
}
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
__all__ = sorted(_EXPORTS)
