"""Fast units of the Ray scale-out (no Ray started): the quota actor's body round-trips the driver's quota store,
a spent daily quota crosses the actor boundary as ``QuotaExhausted``, and loopback URLs on a multi-host cluster are
refused. The real multi-node behaviour is tested in ``test_ray_cluster.py``."""

import datetime as dt

import pytest

from toolkit.experiments.ray_backend import check_reachable
from toolkit.experiments.ray_quota import QuotaService, RemoteLimiter, persist
from toolkit.experiments.spec import SpecError, parse_spec
from toolkit.providers.catalog import Entry, Limits
from toolkit.providers.endpoint import Endpoint, open_limiter
from toolkit.providers.limits import QuotaExhausted

LIMITS = Limits(rpm=100, rpd=5, reset="utc-midnight")


def _endpoint() -> Endpoint:
    return Endpoint("groq/test", "test", "https://api.example.test/v1")


def test_actor_body_starts_from_the_driver_store_and_writes_back_only_what_it_admitted(tmp_path):
    endpoint = _endpoint()
    local = open_limiter(endpoint, LIMITS, root=tmp_path)
    local.acquire()
    local.acquire()  # a local run earlier today
    local.close()
    from toolkit.experiments.ray_quota import export_rows

    reopened = open_limiter(endpoint, LIMITS, root=tmp_path)
    rows = export_rows(reopened)
    reopened.close()
    service = QuotaService(endpoint.entry_id, LIMITS, rows, {}, max_wait_s=1)
    assert service.limiter.snapshot()["rpd"].remaining == 3, "the cluster starts from today's local usage"
    assert [service.call("acquire")[0] for _ in range(3)] == ["ok"] * 3
    status, (entry_id, what, resets_at) = service.call("acquire", tokens=0)
    assert status == "exhausted" and entry_id == "groq/test" and "rpd" in what
    assert isinstance(resets_at, dt.datetime)
    added, view = service.export()
    assert len(added["requests"]) == 3, "only the rows admitted during the run go back"
    service.stop()
    persist(endpoint, LIMITS, added, view, root=tmp_path)
    after = open_limiter(endpoint, LIMITS, root=tmp_path)
    assert after.snapshot()["rpd"].remaining == 0, "a later local run remembers the cluster's usage"
    after.close()


def test_remote_limiter_raises_quota_exhausted_like_the_local_one(monkeypatch):
    class Handle:  # stands in for an actor handle: ray.get of a plain value returns it
        class call:  # noqa: N801
            @staticmethod
            def remote(method, *args, **kwargs):
                return ("exhausted", ("groq/test", "the rpd quota (5 rpd)", None))

    ray = pytest.importorskip("ray")
    monkeypatch.setattr(ray, "get", lambda value, **_: value)
    with pytest.raises(QuotaExhausted, match="rpd quota"):
        RemoteLimiter(Handle(), "groq/test").acquire(tokens=10)


SPEC = """
name: reach
providers:
  - id: local/smollm2-135m-instruct
    base_url: {url}
methods: [closed_book]
"""


def test_loopback_url_on_a_multi_host_cluster_is_refused_with_the_fix():
    spec = parse_spec(SPEC.format(url="http://127.0.0.1:8000/v1"))
    check_reachable(spec, {spec.providers[0].name: "http://127.0.0.1:8000/v1"}, ["127.0.0.1", "127.0.0.1"])
    with pytest.raises(SpecError, match=r"each worker's own machine.*base_url"):
        check_reachable(spec, {spec.providers[0].name: "http://127.0.0.1:8000/v1"}, ["127.0.0.1", "10.0.3.7"])
    with pytest.raises(SpecError, match="localhost"):
        check_reachable(spec, {spec.providers[0].name: "http://localhost:8000/v1"}, ["10.0.3.6", "10.0.3.7"])
    cluster_url = "http://tierlab-serve-svc.research.svc:8000/v1"
    check_reachable(spec, {spec.providers[0].name: cluster_url}, ["10.0.3.6", "10.0.3.7"])


def test_catalog_url_counts_when_the_spec_names_none():
    spec = parse_spec("name: reach\nproviders: [local/smollm2-135m-instruct]\nmethods: [closed_book]\n")
    from toolkit.providers import load_catalog

    entry: Entry = load_catalog().entry(spec.providers[0].id)
    if "127.0.0.1" not in entry.resolved_base_url() and "localhost" not in entry.resolved_base_url():
        pytest.skip("the catalog's local URL is not loopback here")
    with pytest.raises(SpecError):
        check_reachable(spec, {spec.providers[0].name: None}, ["10.0.3.6", "10.0.3.7"])


def test_experiment_panel_run_on_cluster_passes_the_address(monkeypatch, tmp_path):
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path))
    from toolkit.experiments import runner
    from toolkit.ui.experiment import ExperimentPanel

    seen = {}

    def fake_run(spec, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(runner, "run_experiment", fake_run)
    panel = ExperimentPanel("quickstart", run_kwargs={"track": False}, sample_size=1, methods=["closed_book"],
                            providers=[{"id": "local/smollm2-135m-instruct", "base_url": "http://127.0.0.1:9/v1"}])
    panel.cluster.value = " ray://head.research.svc:10001 "
    with pytest.raises(RuntimeError, match="stop here"):
        panel.run(wait=True)
    # ``track: False`` reaches the runner as "no logger" (the runner takes a log hook, not a flag)
    assert seen["ray_address"] == "ray://head.research.svc:10001" and seen["log"] is None and "track" not in seen
    panel.cluster.value = ""
    assert panel._run_options()["ray_address"] is None
