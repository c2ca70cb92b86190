"""Webhook notifications: signed (Standard Webhooks), retried, observable and SSRF-safe."""
