"""Serving profiles validate through ray.serve.llm's own schemas (no GPU needed); the cost meter is exact."""

import asyncio

import pytest
import yaml

from serving import config
from serving.ingress import DONE, BusyMeter, _metered, cost_usd


@pytest.mark.parametrize("name", config.profile_names())
def test_every_profile_validates_with_llmconfig(name):
    cfg = config.load_profile(name)
    assert cfg.model_id == config.profile_dict(name)["model_loading_config"]["model_id"]
    assert config.usd_per_hour(cfg) > 0


def test_profiles_cover_cpu_and_gpu():
    names = config.profile_names()
    assert {"cpu-smollm2", "cpu-gemma3", "gpu-llama-3.1-8b-instruct", "gpu-llama-3.1-70b-instruct"} <= set(
        names
    )
    gpu8 = config.load_profile("gpu-llama-3.1-8b-instruct")
    assert gpu8.accelerator_type == "L4"
    assert gpu8.deployment_config["autoscaling_config"]["max_replicas"] > 1
    gpu70 = config.load_profile("gpu-llama-3.1-70b-instruct")
    assert gpu70.engine_kwargs["tensor_parallel_size"] == 4
    assert config.accelerators_per_replica(gpu70) == ("A100-80G", 4.0)


def test_cpu_profile_matches_the_local_recipe():
    cfg = config.load_profile("cpu-smollm2", env={"TIERLAB_MODELS": "/models"})
    assert cfg.model_id == "smollm2-135m-instruct"
    assert cfg.model_loading_config.model_source == "/models/smollm2-135m-instruct"
    assert cfg.accelerator_config.kind == "cpu"
    assert cfg.placement_group_config == {"bundles": [{"CPU": 1}]}
    assert cfg.deployment_config["ray_actor_options"] == {"num_cpus": 0}
    assert cfg.engine_kwargs["dtype"] == "float32"
    assert cfg.engine_kwargs["max_model_len"] == 1024
    assert cfg.engine_kwargs["enforce_eager"] is True


def test_yaml_holds_no_machine_paths():
    for path in config.CONFIGS_DIR.glob("*.yaml"):
        text = yaml.safe_dump(yaml.safe_load(path.read_text()))  # values only, comments may explain defaults
        for machine in ("/root", "/home/", "/work/", "/tmp/", ".tierlab"):
            assert machine not in text, f"{path.name} hard-codes {machine}"


def test_placeholders_resolve_or_fail_clearly():
    assert config.resolve("${A}/${B:-dflt}", {"A": "x"}) == "x/dflt"
    with pytest.raises(config.ProfileError, match=r"\$\{MISSING\}.*export MISSING"):
        config.resolve("${MISSING}/m", {})
    data = config.profile_dict("cpu-smollm2", env={"TIERLAB_HOME": "/srv/tl"} | {"TIERLAB_MODELS": "/srv/m"})
    assert data["model_loading_config"]["model_source"] == "/srv/m/smollm2-135m-instruct"


def test_models_default_follows_tierlab_home(monkeypatch):
    monkeypatch.delenv("TIERLAB_MODELS", raising=False)
    monkeypatch.setenv("TIERLAB_HOME", "/srv/home")
    assert config.profile_dict("cpu-smollm2")["model_loading_config"]["model_source"] == (
        "/srv/home/models/smollm2-135m-instruct"
    )


def test_unknown_profile_suggests_the_close_name():
    with pytest.raises(config.ProfileError, match="Did you mean .cpu-smollm2."):
        config.load_profile("cpu-smolm2")


def test_invalid_profile_is_rejected_by_llmconfig(tmp_path, monkeypatch):
    (tmp_path / "bad.yaml").write_text(
        yaml.safe_dump({"model_loading_config": {"model_id": "m"}, "engine_kwarg": {"dtype": "float32"}})
    )
    monkeypatch.setattr(config, "CONFIGS_DIR", tmp_path)
    with pytest.raises(config.ProfileError, match=r"bad.yaml is not a valid LLMConfig(.|\n)*engine_kwarg"):
        config.load_profile("bad")


def test_serve_config_is_what_build_openai_app_accepts():
    from ray.serve.llm import LLMServingArgs

    rendered = config.serve_config(["cpu-smollm2", "gpu-llama-3.1-8b-instruct"], env={"TIERLAB_MODELS": "/m"})
    (app,) = rendered["applications"]
    assert app["import_path"] == "ray.serve.llm:build_openai_app"
    assert app["route_prefix"] == "/"
    args = LLMServingArgs.model_validate(app["args"])
    assert [c.model_id for c in args.llm_configs] == ["smollm2-135m-instruct", "llama-3.1-8b-instruct"]
    assert args.ingress_cls_config.ingress_cls.__name__ == "CostedIngress"
    prices = args.ingress_cls_config.ingress_extra_kwargs["usd_per_hour"]
    assert prices == {"smollm2-135m-instruct": 0.048, "llama-3.1-8b-instruct": 0.80}
    assert yaml.safe_load(yaml.safe_dump(rendered)) == rendered  # plain data, ready for serveConfigV2
    with pytest.raises(config.ProfileError, match="at least one"):
        config.serve_config([])


def test_price_override_and_unknown_accelerator(tmp_path, monkeypatch):
    cfg = config.load_profile("gpu-llama-3.1-8b-instruct")
    assert config.usd_per_hour(cfg, env={config.PRICE_OVERRIDE_ENV: "2.5"}) == 2.5
    prices = tmp_path / "prices.yaml"
    prices.write_text("cpu: 0.05\n")
    monkeypatch.setattr(config, "PRICES_FILE", prices)
    with pytest.raises(config.ProfileError, match="no price for accelerator 'L4'"):
        config.usd_per_hour(cfg, env={})


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_busy_meter_shares_overlap_and_skips_idle_time():
    clock = Clock()
    meter = BusyMeter(clock)
    a = meter.start()  # t=0: A alone for 2 s
    clock.now = 2.0
    b = meter.start()  # t=2: A and B together for 2 s
    clock.now = 4.0
    busy_a = meter.stop(a)  # t=4: B alone for 1 s
    clock.now = 5.0
    busy_b = meter.stop(b)
    clock.now = 50.0  # idle: charged to nobody
    c = meter.start()
    clock.now = 51.0
    busy_c = meter.stop(c)
    assert busy_a == pytest.approx(3.0)
    assert busy_b == pytest.approx(2.0)
    assert busy_c == pytest.approx(1.0)
    assert busy_a + busy_b == pytest.approx(5.0)  # adds up to the busy wall time
    assert cost_usd(3600, 0.8) == pytest.approx(0.8)


def test_stream_gets_cost_comment_before_done_and_meter_always_stops():
    clock = Clock()
    meter = BusyMeter(clock)

    async def chunks():
        yield 'data: {"x": 1}\n\n'
        clock.now = 1.5
        yield DONE

    async def collect(gen):
        return [c async for c in gen]

    out = asyncio.run(collect(_metered(chunks(), meter, meter.start(), 3600.0)))
    assert out[0] == 'data: {"x": 1}\n\n'
    assert out[1] == ": x-tierlab-busy-seconds=1.500000 x-tierlab-cost-usd=1.500000000\n\n" + DONE
    assert meter._in_flight == 0

    async def broken():
        yield "data: {}\n\n"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        asyncio.run(collect(_metered(broken(), meter, meter.start(), 1.0)))
    assert meter._in_flight == 0
