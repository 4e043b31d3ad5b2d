"""Each arm as a Ray task: on a private local Ray (``ray_address="local"``) or on a cluster.

Workers write to the same store when they share the disk; their new records are also returned, so a remote
cluster's answers land in the local store too.
"""

import contextlib
import shutil
import threading
import time
from collections import defaultdict
from pathlib import Path

from toolkit import security
from toolkit.experiments.components import Components
from toolkit.experiments.execution import run_arms
from toolkit.experiments.spec import ExperimentSpec, arm_name
from toolkit.experiments.store import AnswerRecord, Store
from toolkit.records import Question


def _ray_arm(
    spec_json: str, arm: str, question_json: list[str], store_dir: str, base_urls: dict, share: float
):
    """A Ray task: one arm, writing to the same store (shared disk), returning its new records."""
    spec = ExperimentSpec.model_validate_json(spec_json)
    questions = [Question.model_validate_json(q) for q in question_json]
    only = next((p, m) for p, m in spec.arms() if arm_name(p, m) == arm)
    sub = spec.model_copy(update={"providers": (only[0],), "methods": (only[1],)})
    store = Store(Path(store_dir))
    before = set(store.records())
    stopped, errors, calls = run_arms(
        sub,
        {arm: questions},
        store,
        components=Components(),
        base_urls=base_urls,
        cancel=threading.Event(),
        budget_share=share,
    )
    new = [r.model_dump_json() for k, r in store.records().items() if k not in before and k[0] == arm]
    return new, stopped, errors, calls


def _start_local_ray(attempts: int = 3) -> str:
    """A private local Ray (loopback only, token auth, own temp dir; call inside ``security.local_ray()``);
    returns the temp dir to remove after shutdown.

    A busy 2-core machine can miss Ray's fixed startup deadline while the dashboard agent is still importing;
    a retry finds warm caches and succeeds (the same remedy serving/ uses).
    """
    import os
    import shutil
    import tempfile

    import ray

    os.environ.setdefault("RAY_agent_register_timeout_ms", "120000")
    # Workers inherit this process's environment (secrets included); the runtime env, which Ray stores and
    # shows, carries only the non-secret settings.
    env = {k: v for k, v in os.environ.items()
           if k.startswith(("TIERLAB_", "HF_", "MLFLOW_")) and not security.is_secret_name(k)}  # fmt: skip
    temp_dir = tempfile.mkdtemp(prefix="tlray")  # short: Ray's socket paths must stay under 108 bytes
    for attempt in range(1, attempts + 1):
        try:
            ray.init(
                address="local",
                _node_ip_address="127.0.0.1",
                num_cpus=2,
                include_dashboard=False,
                _temp_dir=temp_dir,
                log_to_driver=False,
                runtime_env={"env_vars": env},
            )
            security.check_private_ray()
            return temp_dir
        except Exception as error:  # ray raises a bare Exception for a startup timeout
            if "timed out during startup" not in str(error) or attempt == attempts:
                ray.shutdown()
                shutil.rmtree(temp_dir, ignore_errors=True)
                raise
            ray.shutdown()
            time.sleep(2)
    return temp_dir


def run_on_ray(spec, pending, store, ray_address, base_urls, cancel, on_answer, bars):
    """Each arm with pending questions as one Ray task; a local Ray started here is shut down afterwards."""
    import ray

    started = None
    with contextlib.ExitStack() as private:
        if not ray.is_initialized():
            if ray_address == "local":
                private.enter_context(security.local_ray())  # until after the shutdown below
                started = _start_local_ray()
            else:
                security.connect_ray(ray_address)
        try:
            return _ray_arms(spec, pending, store, base_urls, cancel, on_answer, bars)
        finally:
            if started:
                ray.shutdown()
                shutil.rmtree(started, ignore_errors=True)


def _ray_arms(spec, pending, store, base_urls, cancel, on_answer, bars):
    import ray

    task = ray.remote(num_cpus=0.5, max_retries=0)(_ray_arm)
    arms_per_provider = defaultdict(int)
    for provider, _ in spec.arms():
        arms_per_provider[provider.name] += 1
    refs = {}
    for provider, method in spec.arms():
        name = arm_name(provider, method)
        if pending[name]:
            refs[
                task.remote(
                    spec.model_dump_json(),
                    name,
                    [q.model_dump_json() for q in pending[name]],
                    str(store.directory),
                    base_urls,
                    1.0 / arms_per_provider[provider.name],
                )
            ] = name
    stopped, errors, calls = {}, [], 0
    known = set(store.records())
    remaining = list(refs)
    while remaining:
        if cancel.is_set():
            for ref in remaining:
                ray.cancel(ref)
            stopped.update({refs[r]: "cancelled" for r in remaining})
            break
        done, remaining = ray.wait(remaining, num_returns=1, timeout=0.5)
        for ref in done:
            new, arm_stopped, arm_errors, arm_calls = ray.get(ref)
            stopped.update(arm_stopped)
            errors += arm_errors
            calls += arm_calls
            for line in new:
                record = AnswerRecord.model_validate_json(line)
                if record.key not in known:  # the worker's disk is not ours (a remote cluster)
                    store.append(record)
                if refs[ref] in bars:
                    bars[refs[ref]].update(1)
                if on_answer is not None:
                    on_answer(record)
    return stopped, errors, calls
