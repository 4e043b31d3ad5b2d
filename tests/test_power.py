"""Power before a run: the formulas against simulations of the reported tests, `tierlab power`, the panel section.

The measured path runs a real (small) experiment against a deterministic OpenAI-compatible server on 127.0.0.1,
then asks for power from its stored answers, in-process and through the real `tierlab` console script.
"""

import hashlib
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from toolkit.metrics import power
from toolkit.metrics.stats import MIN_PAIRS, compare, mcnemar


# --- the statistics ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.05 / 7])
def test_mcnemar_rejection_region_is_exactly_p_below_alpha(alpha):
    for m in range(1, 41):
        c = power.mcnemar_critical(np.array([m]), alpha)[0]
        for b in range(m + 1):
            p, _ = mcnemar([1] * b + [0] * (m - b), [0] * b + [1] * (m - b))
            assert (p < alpha) == (min(b, m - b) <= c), (m, b, p, c)
    assert power.mcnemar_critical(np.array([0]), alpha)[0] == -1


def simulated_power(draw, n: int, sims: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for i in range(sims):
        a, b = draw(rng, n)
        test = compare("m", "A", a.tolist(), "B", b.tolist(), n_resamples=100, permutations=499, seed=i)
        hits += test.p_value is not None and test.p_value < 0.05
    return hits / sims


def test_exact_mcnemar_power_matches_a_simulation_of_the_reported_test():
    discordant, effect, n, sims = 0.3, 0.15, 40, 2000

    def draw(rng, n):  # only A right w.p. (psi+X)/2, only B right w.p. (psi-X)/2, else both right or both wrong
        u = rng.random(n)
        only_a, discordant_pair, both = u < (discordant + effect) / 2, u < discordant, u < (1 + discordant) / 2
        a = np.where(only_a, 1.0, np.where(discordant_pair, 0.0, np.where(both, 1.0, 0.0)))
        b = np.where(only_a, 0.0, np.where(discordant_pair, 1.0, np.where(both, 1.0, 0.0)))
        return a, b

    exact = power.mcnemar_power(n, effect, discordant)
    simulated = simulated_power(draw, n, sims)
    assert 0.2 < exact < 0.5  # a case where power is far from 0 and 1, so the comparison means something
    assert abs(simulated - exact) <= 3.5 * np.sqrt(exact * (1 - exact) / sims), (simulated, exact)


@pytest.mark.parametrize("n", [16, 40])  # the exact and the Monte-Carlo permutation test
def test_permutation_power_formula_matches_a_simulation(n):
    sd, effect, sims = 0.3, 0.12, 400

    def draw(rng, n):
        base = rng.uniform(0.2, 0.8, n)
        return base + rng.normal(effect, sd, n), base

    formula = power.permutation_power(n, effect, sd)
    simulated = simulated_power(draw, n, sims, seed=n)
    assert 0.2 < formula < 0.9
    assert abs(simulated - formula) <= 0.07, (simulated, formula)  # 3 SE plus the t approximation's small error


def test_required_questions_and_detectable_effect_invert_each_other():
    binary = power.power_function(True, discordant=0.3)
    n = power.required_questions(binary, 0.1)
    assert binary(n, 0.1) >= 0.8 > binary(n - 3, 0.1)
    x = power.detectable_effect(binary, n, largest=0.3)
    assert x == pytest.approx(0.1, abs=0.005) and binary(n, x) >= 0.8
    continuous = power.power_function(False, sd=0.3)
    n = power.required_questions(continuous, 0.05)
    assert continuous(n, 0.05) >= 0.8 > continuous(n - 1, 0.05)
    assert power.detectable_effect(continuous, n) == pytest.approx(0.05, abs=0.001)
    grid = [continuous(n, x) for x in np.linspace(0.01, 0.99, 99)]  # finite and monotone (scipy's nct gives NaN
    assert all(np.isfinite(grid)) and grid == sorted(grid)  # far in the tail)


def test_below_min_pairs_nothing_is_detectable():
    assert power.mcnemar_power(MIN_PAIRS - 1, 0.3, 0.3) == 0.0
    assert power.permutation_power(MIN_PAIRS - 1, 0.9, 0.1) == 0.0
    assert power.detectable_effect(power.power_function(True), MIN_PAIRS - 1) is None
    assert power.required_questions(power.power_function(False, sd=0.01), 0.5) == MIN_PAIRS


@pytest.mark.parametrize("call, message", [
    (lambda: power.mcnemar_power(100, 1.5), "between 0 and 1"),
    (lambda: power.mcnemar_power(100, 0.0), "between 0 and 1"),
    (lambda: power.mcnemar_power(100, 0.4, 0.3), "raise --discordant"),
    (lambda: power.permutation_power(100, 0.1, sd=0), "SD of per-question differences must be > 0"),
    (lambda: power.mcnemar_power(100, 0.1, alpha=1.2), "alpha"),
    (lambda: power.required_questions(power.power_function(True), 0.1, target=80), "target power"),
])
def test_bad_input_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- a real run, then power from its stored answers ---------------------------------------------------------------
class HalfRightServer:
    """Gold answer when a hash of prompt and max_tokens is even, else "I don't know": two provider arms that differ
    only in max_tokens disagree on about half of the questions."""

    def __init__(self):
        from toolkit.datasets import load_dataset

        gold = {q.question: q for q in load_dataset("factbook", "dev").questions}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._json({"object": "list", "data": [{"id": "smollm2-135m-instruct", "object": "model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = " ".join(str(m["content"]) for m in body["messages"])
                question = next((q for text, q in gold.items() if text in prompt), None)
                key = f"{prompt}|{body.get('max_tokens')}".encode()
                right = question and question.answers and hashlib.sha256(key).digest()[0] % 2 == 0
                self._json({"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": question.answers[0] if right else
                                             "I don't know"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24}})

            def _json(self, data):
                raw = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def finished_run(tmp_path, monkeypatch):
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import load_spec

    home = tmp_path / "home"
    monkeypatch.setenv("TIERLAB_HOME", str(home))
    server = HalfRightServer()
    spec_path = tmp_path / "power-run.yaml"
    providers = "".join(  # two arms of one local model that differ only in max_tokens (see HalfRightServer)
        f"  - {{id: local/smollm2-135m-instruct, label: {label}, base_url: '{server.url}', cache: false, "
        f"params: {{temperature: 0, max_tokens: {tokens}}}}}\n" for label, tokens in (("a", 32), ("b", 33)))
    spec_path.write_text(
        "name: power-run\ndataset: factbook\nsplit: dev\nsample_size: 12\nseed: 1\nproviders:\n" + providers
        + "methods: [closed_book, cove_joint]\n", encoding="utf-8")
    result = run_experiment(load_spec(spec_path), progress=False)
    assert not result.errors and len(result.records) == 48
    yield spec_path, home, result
    server.server.shutdown()
    server.server.server_close()


def test_power_from_a_finished_run_measures_calls_tokens_and_discordance(finished_run):
    from toolkit.planner.sample_size import plan_power, stored_records

    spec_path, home, result = finished_run
    spec = result.spec
    records = stored_records(spec)
    plan = plan_power(spec, effect=0.2, records=records)
    closed = next(a for a in plan.arms if a.method == "closed_book")
    assert closed.source == "measured on 12 stored answers"
    assert (closed.calls_per_question, closed.tokens_per_question) == (1.0, 24.0)  # one call of 20 + 4 tokens
    assert "measured on 48 stored answers" in plan.assumption
    estimated = plan_power(spec, effect=0.2)
    assert "estimated" in estimated.arms[0].source and "default assumption" in estimated.assumption
    assert plan.solved_for == "questions" and plan.power >= 0.8
    assert plan.providers[0].note.startswith("self-hosted")


def tierlab(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TIERLAB_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([str(Path(sys.executable).with_name("tierlab")), "power", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_tierlab_power_cli(finished_run):
    from typer.testing import CliRunner

    from toolkit.cli import app

    spec_path, home, _ = finished_run
    out = tierlab(str(spec_path), "--from-run", str(spec_path), "--effect", "0.2", home=home)
    assert out.returncode == 0, out.stderr
    assert "To detect a difference of 0.2 you need" in out.stdout and "measured on 12 stored answers" in out.stdout
    free = tierlab("--provider", "openrouter/meta-llama/llama-3.3-70b-instruct:free", "--method", "closed_book",
                   "--method", "cove_joint", "--questions", "250", home=home)
    assert free.returncode == 0, free.stderr
    # 1 + 3 calls per question against 50 requests a day: 12.5 questions a day, 20 days for 250
    assert "| 4 |" in free.stdout and "| 12.5 | RPD 50 | 20.0 |" in free.stdout
    assert "With 250 paired questions you can detect a difference of" in free.stdout
    typo = tierlab("--provider", "groq/llama-3.1-8b-instnt", "--effect", "0.1", home=home)
    assert typo.returncode == 2 and "Did you mean 'groq/llama-3.1-8b-instant'" in typo.stderr
    assert "Traceback" not in typo.stderr
    runner = CliRunner()
    for args, message in [  # the same command in-process (each subprocess costs seconds of imports)
        (("--provider", "groq/llama-3.1-8b-instant", "--method", "cove_jont"), "Did you mean 'cove_joint'"),
        (("--provider", "groq/llama-3.1-8b-instant", "--effect", "10"), "between 0 and 1"),
        (("--provider", "groq/llama-3.1-8b-instant", "--metric", "acuracy"), "Did you mean 'accuracy'"),
        (("--provider", "groq/llama-3.1-8b-instant", "--effect", "0.4"), "raise --discordant"),
        (("--effect", "0.1"), "pass a spec YAML, or at least one --provider"),
        (("--provider", "groq/llama-3.1-8b-instant", "--from-run", "nothing"), "no stored run 'nothing'"),
        ((str(spec_path.with_name("missing.yaml")),), "missing.yaml"),
    ]:
        bad = runner.invoke(app, ["power", *args], env={"TIERLAB_HOME": str(home), "COLUMNS": "200"})
        assert bad.exit_code == 2, (args, bad.output)
        assert message in bad.output and "Traceback" not in bad.output, (args, bad.output)


def test_experiment_panel_power_section(finished_run):
    from toolkit.ui.experiment import ExperimentPanel

    spec_path, _, _ = finished_run
    panel = ExperimentPanel(str(spec_path), run_kwargs={"track": False})
    section = panel.power
    section.effect.value, section.questions.value = 0.2, 0
    section.button.click()
    assert "To detect a difference of 0.2 you need" in section.output.value
    assert "measured on 12 stored answers" in section.output.value and "<table" in section.output.value
    section.effect.value, section.questions.value = 0.0, 300
    section.button.click()
    assert "With 300 paired questions you can detect a difference of" in section.output.value
    section.use_stored.value = False
    section.metric.value, section.sd.value = "token_f1", 0.25
    section.button.click()
    assert section.plan.assumption.startswith("SD of per-question differences 0.25 (given)")
    section.effect.value = 1.5
    section.button.click()
    assert "color:#b00" in section.output.value and "between 0 and 1" in section.output.value
