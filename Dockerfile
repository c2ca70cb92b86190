FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1
WORKDIR /app

# No torch: the embedded model runs on ONNX Runtime (the [torch] extra is for training and
# the torch runtime).
COPY pyproject.toml README.md ./
COPY moderation ./moderation
COPY workers ./workers
COPY rules ./rules
RUN pip install . && useradd --create-home moderation
# Build the embedded model's ONNX file once, at build time (the shipped graph filled with the
# checkpoint's weights, about a second), so workers start at once; the cache dir is not
# writable at run time.
RUN python -c "from moderation.config import Settings; from moderation.classifier.loader import load_classifier; load_classifier(Settings())"
USER moderation
ENV MODERATION_RULES_DIRS=/app/rules
EXPOSE 8000
CMD ["moderation", "serve", "--bind", "0.0.0.0:8000"]
