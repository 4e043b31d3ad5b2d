"""Free-tier strategies as measurable experiment arms: batching, caching, prompt trimming, cascade, human review.

``Strategies`` (spec) says which are on; ``StrategyArm`` applies them around any method; ``report`` measures what
they saved against the plain baseline arm; ``review`` keeps the human-review queue on disk.
"""

from toolkit.strategies.spec import Batching, Caching, Cascade, Review, Strategies, Trimming

__all__ = ["Batching", "Caching", "Cascade", "Review", "Strategies", "Trimming"]
