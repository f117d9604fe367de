# The HTTP service (`python -m edge_runtime serve`) in a container, for arm64 (Raspberry Pi
# OS 64-bit, Jetson with the CPU provider) and x86-64 alike: every dependency has wheels
# for both, so no compiler is needed. Build for both with
#   docker buildx build --platform linux/arm64,linux/amd64 -t edge-runtime .
# and run with
#   docker run -p 8000:8000 edge-runtime          (add --device /dev/video0 and
#   `--source 0` after the image name to track a camera)
# Not built or run on the project's own machines (no container daemon and no registry of
# base images there): see docs/deploy.md.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY edge_runtime edge_runtime
COPY models models
COPY tests/data tests/data
COPY train train
COPY export export
COPY benchmarks benchmarks
RUN pip install ".[serve]" && useradd --system --no-create-home edge
USER edge
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"
ENTRYPOINT ["python", "-m", "edge_runtime", "serve", "--host", "0.0.0.0", "--port", "8000"]
