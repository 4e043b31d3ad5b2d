# JupyterLab with TierLab and its notebooks, for the optional jupyterlab component (runs as jovyan, uid 1000).
# Build from the repository root:
#   docker build -f k8s/images/jupyterlab.Dockerfile -t ghcr.io/tierlab/jupyterlab:0.1.0 .
FROM quay.io/jupyter/minimal-notebook:python-3.11
COPY --chown=1000:100 . /opt/tierlab/src
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu /opt/tierlab/src \
    && cp -r /opt/tierlab/src/notebooks /opt/tierlab/notebooks
USER 1000
