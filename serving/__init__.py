"""Self-hosted serving: vLLM behind ray.serve.llm, configured by YAML profiles in ``serving/configs``.

This package runs inside the Ray image (locally or on KubeRay) and must not import ``toolkit``.
``serving.config`` loads and renders profiles; ``serving.ingress`` adds per-response cost headers;
``serving.app`` deploys a profile on a local Ray.
"""
