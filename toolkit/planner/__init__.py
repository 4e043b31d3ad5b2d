"""Cost and capacity planner: from measured runs and a workload to free tier vs paid vs self-hosted.

Pure functions live in ``quota`` (limits over a day) and ``costs`` (money and GPUs); ``plan`` combines them with the
workload's hard constraints; ``inputs`` reads runs and the provider catalog; ``report`` renders.
"""

from toolkit.planner.plan import Choice, Measured, Offer, Plan, Scenario, make_plan, sensitivity
from toolkit.planner.quota import QuotaLimits, QuotaVerdict, check_quota
from toolkit.planner.workload import Workload, load_workload

__all__ = [
    "Choice", "Measured", "Offer", "Plan", "QuotaLimits", "QuotaVerdict", "Scenario", "Workload",
    "check_quota", "load_workload", "make_plan", "sensitivity",
]
