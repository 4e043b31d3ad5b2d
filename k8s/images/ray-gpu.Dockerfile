# Ray image for the gpu overlay: KubeRay's LLM image (Ray Serve + CUDA vLLM) plus TierLab's `serving` package,
# which the rendered serveConfigV2 imports (`serving.ingress:CostedIngress` adds per-response cost headers).
# Build from the repository root:
#   docker build -f k8s/images/ray-gpu.Dockerfile -t ghcr.io/tierlab/ray-gpu:2.60.0-py311-cu128 .
FROM rayproject/ray-llm:2.60.0-py311-cu128
COPY --chown=1000:100 serving /home/ray/tierlab/serving
ENV PYTHONPATH=/home/ray/tierlab${PYTHONPATH:+:$PYTHONPATH}
USER 1000
