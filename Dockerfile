# The scoring service (feedback-nlp serve) with the pinned CPU torch, the encoder and spaCy pipeline wheels:
# nothing is downloaded at run time (HF_HUB_OFFLINE). Build from the repository root:
#   docker build -t feedback-nlp .
# Models are read from the volume /data/models (train into it: see compose.yaml); without
# FEEDBACK_NLP_DATABASE_URL the store is /data/feedback.sqlite, beside the models dir.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    FEEDBACK_NLP_MODELS_DIR=/data/models \
    FEEDBACK_NLP_ENCODER_CACHE_DIR=/data/encoders

WORKDIR /app

# torch first, from PyTorch's CPU index at the version pyproject.toml pins: PyPI's build brings CUDA (GBs)
RUN pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md ./
COPY feedback_nlp ./feedback_nlp
# ONNX Runtime runs the encoder (encoder_backend onnx, the default); the export is kept in
# FEEDBACK_NLP_ENCODER_CACHE_DIR, on the volume, so the train and api containers export it once between them
RUN pip install ".[postgres]"

# the bundled sample, the training config and the service entry point, for `compose run train`
COPY examples ./examples
COPY training ./training
COPY service ./service

RUN useradd --create-home --uid 10001 feedback \
    && mkdir -p /data/models \
    && chown -R feedback /data
USER feedback
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"

CMD ["feedback-nlp", "serve", "--host", "0.0.0.0", "--port", "8000", "--models-dir", "/data/models"]
