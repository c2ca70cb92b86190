"""Celery side: the app factory, thin tasks and the per-process runtime."""
