"""gunicorn entry point: `gunicorn moderation.wsgi:app` (settings from MODERATION_* vars)."""

from moderation import create_app
from moderation.config import Settings
from moderation.logs import configure_logging

_settings = Settings()
configure_logging(_settings.log_level, _settings.log_json)
app = create_app(_settings)
