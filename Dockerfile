# syntax=docker/dockerfile:1
# The prediction service image (also the init container: `python -m app.fetch_model`).
#
# Two ways to fill the venv, chosen by what the build context holds:
# - hermetic (`make image`, CI): `build/image/wheelhouse/` exists (`make wheelhouse` runs
#   `pip wheel` with versions pinned to the tested venv): pip installs from it with --no-index;
#   no index, no pip config and no host certificates are used or copied during the build.
#   `make image` builds it with buildah from a local Debian bookworm base (python3.11) made by
#   mmdebstrap; CI's Docker@2 build uses the default base below.
# - plain `docker build .` on a laptop (no wheelhouse): the ranges of requirements-image.txt are
#   installed from the package index into the same venv.
ARG BASE_IMAGE=python:3.11-slim
ARG WHEELHOUSE=build/image/wheelhouse

# --- build stage: a virtualenv filled from the wheelhouse (or the index) ---------------------------
FROM ${BASE_IMAGE} AS build
ARG WHEELHOUSE
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# The wildcard lets the wheelhouse be absent; requirements-image.txt is always there.
COPY requirements-image.txt ${WHEELHOUSE}* /wheels/
# The venv gets no pip of its own: pip runs from its wheel (or the base's pip), so the runtime
# image has no installer.
RUN set -eu; python3 -m venv --without-pip /opt/venv; \
    if [ -f /wheels/requirements.txt ]; then \
      set -- /wheels/pip-*.whl; \
      PIP_CONFIG_FILE=/dev/null /opt/venv/bin/python "$1/pip" install --no-index \
        --find-links /wheels --no-compile --only-binary=:all: -r /wheels/requirements.txt; \
    else \
      python3 -m pip --python /opt/venv/bin/python install --no-compile --only-binary=:all: \
        -r /wheels/requirements-image.txt; \
    fi; \
    /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib; \
    find /opt/venv -name '*.pyi' -delete
COPY app /opt/service/app
COPY modelstore /opt/service/modelstore
COPY cliexit /opt/service/cliexit
RUN /opt/venv/bin/python -m compileall -q /opt/service

# --- runtime stage: the base, the venv and the code; nothing else -----------------------------------
FROM ${BASE_IMAGE}
ARG MODEL_INPUT_SIGNATURE="input:float32[?,64]"
ARG REVISION=unknown
ARG VERSION=dev
ARG CREATED=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="modelops-app" \
      org.opencontainers.image.description="ONNX prediction service (Flask + granian + onnxruntime)" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT" \
      io.modelops.model.input-signature="${MODEL_INPUT_SIGNATURE}"
# nginx runs the pod's buffering proxy container (deploy/base/nginx.conf). The local base has it
# (scripts/build_image.py); on another base (python:3.11-slim) it is installed from Debian here.
RUN command -v nginx >/dev/null 2>&1 || { apt-get update \
 && apt-get install -y --no-install-recommends nginx-light \
 && rm -rf /var/lib/apt/lists/*; }
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/service /opt/service
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONPATH=/opt/service \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MODEL_DIR=/models \
    MODEL_INPUT_SIGNATURE="${MODEL_INPUT_SIGNATURE}" \
    APP_REVISION="${REVISION}" \
    APP_VERSION="${VERSION}" \
    APP_CREATED="${CREATED}" \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus \
    BIND=0.0.0.0:8080 \
    WEB_CONCURRENCY=2
WORKDIR /opt/service
# A numeric non-root user (no passwd entry needed; Kubernetes can verify runAsNonRoot).
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:' + os.environ.get('BIND', ':8080').rsplit(':', 1)[1] + '/readyz', timeout=2)"]
# granian, configured from the environment (BIND, WEB_CONCURRENCY, SERVER_*; app/server.py).
CMD ["python", "-m", "app.server"]
