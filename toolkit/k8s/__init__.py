"""Kubernetes manifests for platform teams (``k8s/``): render the RayService serve config, validate offline.

Why this package exists: the RayService's ``serveConfigV2`` must never be hand-copied (it would drift from the
YAML profiles the local server runs), and no API server can run in CI, so every manifest is checked statically
and anything a validator cannot check is reported as a problem instead of passing silently.

- ``render``: each overlay's ``render.yaml`` (profiles, ``${VAR}`` values, the image's vLLM) -> ``serve-config.yaml``.
- ``schemas``: yamllint, strict core schemas (``kubernetes-validate``), KubeRay CRDs with unknown fields rejected.
- ``serve_config``: ``serveConfigV2`` through Ray Serve's schema and ray.serve.llm's own app builder, run offline;
  engine arguments against the vLLM the overlay's image carries (``engine_args``).
- ``capacity``: node types derived by Ray's KubeRay autoscaler code, every replica scheduled by Ray's v2 scheduler.
- ``hygiene``: pod rules (also inside RayService pod templates, which checkov does not understand); ``checkov``.
- ``validate``: all of the above per overlay; ``cli``: ``tierlab k8s render|validate``.

Heavy imports (ray, jsonschema, yamllint) stay inside functions so ``tierlab --help`` stays fast.
"""
