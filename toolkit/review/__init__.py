"""Human review of stored runs: marks kept with the run, a random sample, and prediction-powered rates.

``Review`` (``session``) is the pure-Python API the notebook pane, the CLI and scripts share; ``MarkStore``
(``toolkit.experiments.marks``) keeps the marks beside the run's answers; ``corrected_rates``
(``toolkit.experiments.rates``) turns judge verdicts and human labels into judge-only and prediction-powered
hallucination rates. Both live with the run so the report and tracking read them without importing this package.
MLflow I/O lives in ``toolkit.tracking.human``.
"""

from toolkit.registry import lazy_exports

_EXPORTS = {
    "Review": "toolkit.review.session:Review",
    "HumanMark": "toolkit.experiments.marks:HumanMark",
    "MarkStore": "toolkit.experiments.marks:MarkStore",
    "MarkError": "toolkit.experiments.marks:MarkError",
    "corrected_rates": "toolkit.experiments.rates:corrected_rates",
}
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
__all__ = sorted(_EXPORTS)
