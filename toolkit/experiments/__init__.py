"""Experiments: a spec (providers x methods over a dataset sample), a resumable runner, results with CIs.

- ``spec.py``: ``ExperimentSpec`` and ``load_spec(path)`` (YAML, errors with line numbers).
- ``runner.py``: ``run_experiment(spec, ...)``, cancel, resume; ``summarize`` / ``load_result``.
- ``budget.py``: per-provider caps and the pre-flight estimate; ``execution.py``: bounded threads answering and
  storing; ``ray_backend.py``: each question as a Ray task (private local Ray or a cluster), with
  ``ray_tasks.py`` (tasks, driver-side storing and budgets) and ``ray_quota.py`` (one quota actor per endpoint).
  A multi-node Ray on one machine, for tests and benchmarks, is test scaffolding: ``tests/ray_cluster_support.py``.
- ``store.py``: the append-only JSONL store of answers (what makes reruns free).
- ``results.py``: per-arm metrics with bootstrap CIs, cost and latency, paired tests.
- ``report.py``: summary table and markdown; ``plots.py``: the two figures. (``tierlab run`` / ``report`` live in ``toolkit/run_cli.py``, above tracking.)

Kept import-light: nothing here is imported until used.
"""
