"""Re-judging a finished run: the stored answers get new verdicts, the arms' models get no call (the server that
answered them counts every request), the rates and the judges' κ are shown, and reviewer marks add human κ."""

import pytest
from test_ui import GoldServer, home, small_spec  # noqa: F401 - fixtures

from toolkit.experiments.runner import run_experiment
from toolkit.judges import Verdict


@pytest.fixture
def served(home):  # noqa: F811
    server = GoldServer()
    try:
        result = run_experiment(small_spec(server.url, sample_size=4))
        yield server, result
    finally:
        server.close()


def test_rejudge_makes_no_arm_calls_and_shows_rates_and_kappa(served):
    from toolkit.ui.rejudge import RejudgePanel

    server, result = served
    before = server.total()
    panel = RejudgePanel(result)
    panel.judge.value = "claims"
    panel.button.click()
    assert server.total() == before  # zero calls to the arms' model
    outcome = panel.outcome
    assert set(outcome.rates) == {a.arm for a in result.arms}
    assert len(outcome.verdicts) == len(result.records) and outcome.judge_calls == 0
    assert "0 to the arms' models; 0 to the judge" in panel.output.value
    assert "Agreement of the two judges" in panel.output.value and "n=" in panel.output.value
    assert "claims: real_answers_test: balanced accuracy" in panel.output.value  # the card: real answers first


def test_a_judge_that_disagrees_moves_the_rates_and_kappa(served):
    """A judge calling everything hallucinated must show rate 1.0 and κ ≤ 0 against the stored (gold) verdicts."""
    from toolkit.judges.rejudge import rejudge

    _, result = served
    always = lambda item: Verdict(judge="always", hallucinated=True)  # noqa: E731
    outcome = rejudge(result, always, "always", marks={r.question.id: True for r in result.records})
    for stored, new in outcome.rates.values():
        assert new.value == 1.0 and new.n == stored.n
    stored_rate = [stored.value for stored, _ in outcome.rates.values()]
    assert max(stored_rate) < 1.0  # the gold server's answers are mostly supported
    assert outcome.kappa["agreement"] < 1.0
    assert outcome.human["always"]["agreement"] == 0.0  # every reviewed answer marked correct, judged hallucinated
    assert outcome.human[outcome.stored_judge]["agreement"] > 0.5


def test_results_view_has_a_rejudge_tab(served):
    from toolkit.ui.results import ResultsView

    _, result = served
    view = ResultsView(result, plots=False)
    assert view.tabs.titles[-1] == "Re-judge" and view.rejudge.judge.options[0] == "offline"
