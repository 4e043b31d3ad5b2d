"""Can the cluster hold every Serve replica at its maximum? Answered by Ray's own autoscaler code, offline.

The KubeRay autoscaler knows only what a worker group declares: Ray's ``_derive_autoscaling_config_from_ray_cr``
turns each group into a node type (CPU/GPU/memory from ``rayStartParams`` or the container's limits, custom
resources from the group's ``resources:`` or ``rayStartParams.resources``). A replica that asks for anything
else, e.g. the ``accelerator_type:L4`` resource ray.serve.llm adds for ``accelerator_type: L4``, gets no node.
Here the rendered RayService goes through that same function, and every replica's placement group (a gang
request) and every plain actor (the ingress) through Ray's v2 ``ResourceDemandScheduler``, starting from a
cluster holding only the head. Serve's HTTP proxies reserve ``HTTPOptions().num_cpus`` on every node (0 in Ray
2.60): a non-zero value is taken off each node type before scheduling.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from toolkit.k8s.manifests import ident, ray_cluster_spec
from toolkit.k8s.serve_config import Demand

HEAD_INSTANCE = "head"


def node_types(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Ray's autoscaling config ``available_node_types`` for a RayService/RayCluster, as KubeRay derives it."""
    from ray.autoscaler._private.kuberay.autoscaling_config import _derive_autoscaling_config_from_ray_cr

    meta = doc.get("metadata") or {}
    ray_cr = {"metadata": {"name": meta.get("name"), "namespace": meta.get("namespace") or "default"}}
    ray_cr["spec"] = ray_cluster_spec(doc)
    return _derive_autoscaling_config_from_ray_cr(ray_cr)


def _proxy_cpus() -> float:
    from ray.serve.config import HTTPOptions

    return float(HTTPOptions().num_cpus or 0)


def schedule(doc: dict[str, Any], demands: list[Demand]) -> tuple[Counter, list[str]]:
    """(worker nodes launched per group, unmet requests) for every demand at its maximum replica count."""
    from ray.autoscaler.v2.instance_manager.config import AutoscalingConfig
    from ray.autoscaler.v2.scheduler import ResourceDemandScheduler, SchedulingRequest
    from ray.autoscaler.v2.schema import AutoscalerInstance
    from ray.autoscaler.v2.utils import ResourceRequestUtil
    from ray.core.generated.autoscaler_pb2 import GangResourceRequest, ResourceRequestByCount
    from ray.core.generated.instance_manager_pb2 import Instance, NodeKind

    config = node_types(doc)
    proxy = _proxy_cpus()
    for node_type in config["available_node_types"].values():
        node_type["resources"]["CPU"] = max(0, node_type["resources"].get("CPU", 0) - proxy)
    autoscaling = AutoscalingConfig(config, skip_content_hash=True)
    gangs, actors, actor_names = [], [], {}
    for demand in demands:
        if demand.strategy is None:
            shape = _positive(demand.bundles[0])
            actor_names.setdefault(tuple(sorted(shape.items())), []).append(demand.deployment)
            request = ResourceRequestUtil.make(shape)
            actors.append(ResourceRequestByCount(request=request, count=demand.replicas))
            continue
        for replica in range(demand.replicas):
            constraints = None
            if demand.strategy in ("STRICT_PACK", "STRICT_SPREAD"):
                kind = ResourceRequestUtil.PlacementConstraintType
                kind = kind.AFFINITY if demand.strategy == "STRICT_PACK" else kind.ANTI_AFFINITY
                constraints = [(kind, f"_PG_{demand.deployment}_{replica}", "")]
            requests = [ResourceRequestUtil.make(_positive(b), constraints) for b in demand.bundles]
            gangs.append(
                GangResourceRequest(requests=requests, details=f"{demand.deployment} replica {replica}")
            )
    head = AutoscalerInstance(
        im_instance=Instance(
            instance_id=HEAD_INSTANCE,
            instance_type=autoscaling.get_head_node_type(),
            status=Instance.ALLOCATED,
            node_kind=NodeKind.HEAD,
        )
    )
    reply = ResourceDemandScheduler().schedule(
        SchedulingRequest(
            disable_launch_config_check=autoscaling.disable_launch_config_check(),
            node_type_configs=autoscaling.get_node_type_configs(),
            max_num_nodes=autoscaling.get_max_num_nodes(),  # workers + head, as the reconciler passes it
            resource_requests=actors,
            gang_resource_requests=gangs,
            current_instances=[head],
        )
    )
    launched = Counter({r.instance_type: r.count for r in reply.to_launch})
    unmet = [
        f"{g.details} needs {[dict(r.resources_bundle) for r in g.requests]}"
        for g in reply.infeasible_gang_resource_requests
    ]
    for r in reply.infeasible_resource_requests:
        shape = {k: float(v) for k, v in r.resources_bundle.items()}
        names = " or ".join(actor_names.get(tuple(sorted(shape.items())), ["an actor"]))
        unmet.append(f"a {names} replica needs {shape}")
    return launched, unmet


def _positive(bundle: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in bundle.items() if v}


def check_capacity(doc: dict[str, Any], demands: list[Demand]) -> list[str]:
    """One problem per request the autoscaler could not place, naming the request and what the groups offer."""
    if not demands:
        return []
    _, unmet = schedule(doc, demands)
    if not unmet:
        return []
    offered = {
        name: node["resources"] | {"max_workers": node["max_workers"]}
        for name, node in node_types(doc)["available_node_types"].items()
    }
    return [
        f"{ident(doc)}: Ray's autoscaler cannot place {u}; node types (as KubeRay derives them) offer {offered}. "
        "Declare every custom resource a replica asks for (e.g. accelerator_type:L4) in the worker group's "
        "`resources:`, or raise maxReplicas / the pod's CPU, GPU or memory"
        for u in unmet
    ]
