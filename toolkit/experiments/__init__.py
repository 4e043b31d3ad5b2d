"""Experiments: a spec (providers x methods over a dataset sample), a resumable runner, results with CIs.

- ``spec.py``: ``ExperimentSpec`` and ``load_spec(path)`` (YAML, errors with line numbers).
- ``runner.py``: ``run_experiment(spec, ...)``, bounded threads or Ray tasks, budgets, cancel, resume.
- ``store.py``: the append-only JSONL store of answers (what makes reruns free).
- ``results.py``: per-arm metrics with bootstrap CIs, cost and latency, paired tests.
- ``report.py``: summary table, markdown and plots; ``cli.py``: ``tierlab run`` / ``tierlab report``.

Kept import-light: nothing here is imported until used.
"""
