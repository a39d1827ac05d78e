# The worker and API image (`backtest-worker run` / `backtest-worker serve`). Not exercised by this project's CI (no Docker engine there); see README.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    ENV=production DATA_DIR=/data ARTIFACT_DIR=/artifacts METRICS_PORT=9100 \
    NUMBA_CACHE_DIR=/app/.kernels

WORKDIR /app
COPY pyproject.toml constraints.txt README.md alembic.ini ./
COPY worker ./worker
COPY migrations ./migrations
RUN pip install -c constraints.txt -e . && useradd --create-home --uid 10001 worker \
    && mkdir -p /data /artifacts /app/.kernels && chown worker /data /artifacts /app/.kernels
USER worker
# The engine's numba kernels compiled once into the image (about 15 s), not at each start.
RUN python -c "import worker.pipeline.runner"

# 8000: the API (`serve`); 9100: a worker's /metrics, /healthz and /readyz (METRICS_PORT).
EXPOSE 8000 9100
# A worker's liveness (its event loop answers); the API's service overrides it (compose).
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('METRICS_PORT', '9100'), timeout=2)"]
# SIGTERM stops claiming, lets in-flight runs finish within SHUTDOWN_GRACE_SECONDS, exits 0.
STOPSIGNAL SIGTERM
CMD ["backtest-worker", "run"]
