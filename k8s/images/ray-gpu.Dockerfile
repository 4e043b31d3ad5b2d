# Ray image for the gpu overlay: KubeRay's LLM image (Ray Serve + CUDA vLLM) plus TierLab's `serving` package,
# which the rendered serveConfigV2 imports (`serving.ingress:CostedIngress` adds per-response cost headers).
# Build from the repository root:
#   docker build -f k8s/images/ray-gpu.Dockerfile -t ghcr.io/tierlab/ray-gpu:2.60.0-py311-cu128 .
FROM rayproject/ray-llm:2.60.0-py311-cu128
# `tierlab k8s validate` checks engine_kwargs against vLLM 0.29.0 (k8s/overlays/gpu/render.yaml, the version
# ray[llm]==2.60.0 pins); fail the build if the base image carries another one.
RUN python -c "import vllm, sys; sys.exit(vllm.__version__ != '0.29.0' and f'vLLM {vllm.__version__} != 0.29.0')"
COPY --chown=1000:100 serving /home/ray/tierlab/serving
ENV PYTHONPATH=/home/ray/tierlab${PYTHONPATH:+:$PYTHONPATH}
USER 1000
