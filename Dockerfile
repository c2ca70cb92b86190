FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1
WORKDIR /app

# CPU build of torch, pinned: a looser requirement pulls a multi-GB CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY moderation ./moderation
COPY workers ./workers
COPY rules ./rules
RUN pip install . && useradd --create-home moderation
# Export the embedded model to ONNX once, at build time, so workers start in a fraction of
# a second instead of exporting on first start (the cache dir is not writable at run time).
RUN python -c "from moderation.config import Settings; from moderation.classifier.loader import load_classifier; load_classifier(Settings())"
USER moderation
ENV MODERATION_RULES_DIRS=/app/rules
EXPOSE 8000
CMD ["moderation", "serve", "--bind", "0.0.0.0:8000"]
