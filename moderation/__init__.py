"""Comment moderation service: Flask API, Celery workers, Detoxify models, readable rules."""

from __future__ import annotations

from typing import Any

from flask import Flask

from moderation.config import Settings


def create_app(settings: Settings | None = None, celery_app: Any = None) -> Flask:
    """Build the API. Nothing connects here: Redis and the broker are reached per request."""
    from moderation import web
    from moderation.api import (
        audit,
        comments,
        context,
        docs,
        exposure,
        health,
        review,
        rules,
        webhooks,
    )
    from moderation.errors import register_error_handlers
    from moderation.queue import TaskQueue
    from moderation.services import Services
    from workers.celery_app import create_celery_app

    settings = settings or Settings()
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    svc = Services.from_settings(settings)
    celery_app = celery_app or create_celery_app(settings)
    app.extensions["moderation"] = svc
    app.extensions["moderation.celery"] = celery_app
    app.extensions["moderation.queue"] = TaskQueue(celery_app, settings.broker_timeout_s)
    register_error_handlers(app)
    exposure.install(app, settings)
    health.install_metrics(app, svc)
    blueprints = (comments, review, context, audit, rules, webhooks, health, docs)
    for module in blueprints:
        app.register_blueprint(module.bp)
    app.register_blueprint(web.bp)
    return app
