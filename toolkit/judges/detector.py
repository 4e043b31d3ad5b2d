"""The default offline judge (``offline``): a small learned detector over the cues of ``toolkit.judges.features``.

A gradient-boosted tree ensemble, shipped as plain JSON (``detector.json``: trees, their thresholds and leaf values,
the decision thresholds per evidence setting, the training data's description, seed and cross-validated figures), evaluated here with no ML library: inference is
a few hundred comparisons per answer. ``tierlab judge train`` (``toolkit.judges.train``) rebuilds it from the
HaluEval QA develop part and the real-answer dev split only, never from a test split or the card part.

Before the model: a reply that abstains is ``abstained`` (the stance rule shared with the scorers); a reply to a
question of kind ``unanswerable`` that does not abstain is ``hallucinated`` (the corpus holds no answer, so nothing
backs what it asserts); an answer with neither gold nor context is ``unknown`` (nothing to check it against).
"""

import json
import math
from functools import lru_cache
from pathlib import Path

from toolkit.judges.base import JudgeInput, Verdict

NAME = "offline"
WEIGHTS = Path(__file__).with_name("detector.json")


class Ensemble:
    """Gradient-boosted trees from their JSON form: raw score = init + rate * sum of leaf values; p = sigmoid."""

    def __init__(self, data: dict):
        self.data = data
        self.names = tuple(data["features"])
        self.version = data["version"]
        self.threshold = float(data["threshold"])
        self.thresholds = {k: float(v) for k, v in data.get("thresholds", {}).items()}
        self.init, self.rate = float(data["init"]), float(data["learning_rate"])
        self.trees = [tuple(tree[k] for k in ("feature", "threshold", "left", "right", "value")) for tree in data["trees"]]

    def probability(self, x: list[float]) -> float:
        raw = self.init
        for feature, threshold, left, right, value in self.trees:
            node = 0
            while left[node] >= 0:
                node = left[node] if x[feature[node]] <= threshold[node] else right[node]
            raw += self.rate * value[node]
        return 1.0 / (1.0 + math.exp(-raw))


def setting_key(x: list[float]) -> str:
    """The evidence setting of a feature vector, which picks its decision threshold: ``reference/gold_only``,
    ``no_reference/context_only``, ... (HaluEval has no reference; Factbook answers always have one)."""
    from toolkit.judges.features import NAMES

    has = dict(zip(NAMES, x, strict=True))
    setting = {(1, 0): "gold_only", (0, 1): "context_only", (1, 1): "gold_and_context"}.get(
        (int(has["has_gold"]), int(has["has_context"])), "neither")
    return f"{'reference' if has['has_reference'] else 'no_reference'}/{setting}"


@lru_cache(maxsize=1)
def load(path: Path = WEIGHTS) -> Ensemble:
    return Ensemble(json.loads(Path(path).read_text(encoding="utf-8")))


def judge_offline(item: JudgeInput) -> Verdict:
    """The default judge (see the module docstring); ``reason`` names the probability and the cues that fired."""
    from toolkit.judges.claims import abstains, judge_claims
    from toolkit.judges.features import NAMES, features

    model = load()
    if model.names != NAMES:
        raise RuntimeError(f"{WEIGHTS} was trained on other cues; retrain it: tierlab judge train")
    rules = judge_claims(item, use_embeddings=False)
    if rules.abstained or abstains(item.answer, item.question):
        return Verdict(judge=NAME, version=model.version, hallucinated=False, abstained=True, reason="abstained")
    if item.kind == "unanswerable":  # the corpus holds no answer: whatever the reply asserts, nothing backs it
        return Verdict(judge=NAME, version=model.version, hallucinated=True,
                       reason="answers a question the corpus cannot answer instead of abstaining")
    if not item.gold and not item.context.strip():
        return Verdict(judge=NAME, version=model.version, hallucinated=False, unknown=True,
                       reason="no gold answer and no context to check against")
    x = features(item, rules)
    p = model.probability(x)
    threshold = model.thresholds.get(setting_key(x), model.threshold)
    hallucinated = p > threshold
    cues = ", ".join(f"{n} {v:.2f}" for n, v in zip(NAMES, x, strict=True)
                     if v and n not in ("has_gold", "has_context", "has_reference"))
    return Verdict(judge=NAME, version=model.version, hallucinated=hallucinated, groundedness=rules.groundedness,
                   reason=f"p(hallucinated) {p:.2f} vs {threshold:.2f}; rules: {rules.reason[:80]}; {cues}")
