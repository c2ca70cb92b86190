"""The one settings object. Read from `MODERATION_*` environment variables when asked to,
never at import time; passed into `create_app(settings)` and `create_celery_app(settings)`."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RULES_DIR = PROJECT_ROOT / "rules"

Role = Literal["site", "moderator", "admin"]
ROLES: tuple[Role, ...] = ("site", "moderator", "admin")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODERATION_", extra="ignore")

    # Storage and broker. The broker defaults to the same Redis as the data.
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str | None = None
    key_prefix: str = "mod:"

    # "site:SECRET,moderator:SECRET,admin:SECRET": keys usable from the first request on.
    bootstrap_keys: str = ""

    # Classifier: "embedded" (the model shipped with the project), a public Detoxify model
    # name (original, unbiased, multilingual, original-small, unbiased-small) or a path to
    # a Detoxify checkpoint file.
    model: str = "embedded"
    model_runtime: Literal["auto", "torch", "onnx"] = "auto"
    torch_threads: int = Field(default=1, ge=1, le=64)
    # Tokens per model window of a long comment (overlap: a quarter, at most 64); each label
    # takes its maximum over the windows. Smaller windows find an insult buried in a long
    # comment more often and flag more long neutral ones (MODEL_CARD.md, "Long comments").
    model_window: int = Field(default=512, ge=64, le=512)
    # A forward pass holds at most batch_size rows and batch_tokens padded tokens; windows of
    # long comments go in passes of at most batch_long_tokens, one after each short pass (see
    # classifier/batching.py): what bounds how long a short comment waits behind long ones.
    batch_size: int = Field(default=64, ge=1, le=256)
    batch_wait_ms: int = Field(default=5, ge=0, le=5000)
    batch_tokens: int = Field(default=4096, ge=128, le=65536)
    batch_long_tokens: int = Field(default=2048, ge=512, le=65536)
    # Spans are computed after the verdict is stored, in the classify worker's idle time, and
    # use at most this share of its time (occlusion costs more model rows than the verdict,
    # so unbounded it would take the cores from the API and from verdicts under load).
    explain: bool = True
    explain_duty: float = Field(default=0.25, gt=0, le=1)

    # Rules: extra directories are read after the default one.
    rules_dirs: list[Path] = Field(default_factory=lambda: [DEFAULT_RULES_DIR])

    # Reliability.
    pending_sweep_after_s: int = Field(default=60, ge=1)
    sweep_interval_s: int = Field(default=30, ge=1)
    classify_max_retries: int = Field(default=5, ge=0, le=50)
    visibility_timeout_s: int = Field(default=600, ge=10)
    broker_timeout_s: float = Field(default=2.0, gt=0)
    redis_timeout_s: float = Field(default=2.0, gt=0)
    worker_heartbeat_s: int = Field(default=10, ge=1)
    # A classify worker leases each comment it takes from the queue and renews the lease
    # every third of this while it holds it; the sweeper re-queues a comment whose lease
    # ended (its worker died) within classify_lease_s + sweep_interval_s, backlog or not.
    classify_lease_s: int = Field(default=30, ge=2)

    # Webhooks (see README "Webhooks"). Destinations in private, loopback, link-local and
    # similar networks are refused unless an allowlisted network (CIDR, comma list) names them.
    webhook_allow_nets: str = ""
    webhook_allow_http: bool = False
    # Delays in seconds before each retry after the first attempt (Svix-like: 8 attempts
    # over about 27 hours); each delay is spread by +/- webhook_retry_jitter of itself.
    webhook_retry_schedule: str = "5,300,1800,7200,18000,36000,36000"
    webhook_retry_jitter: float = Field(default=0.2, ge=0, le=1)
    webhook_connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    webhook_read_timeout_s: float = Field(default=10.0, gt=0, le=120)
    webhook_max_response_bytes: int = Field(default=16 * 1024, ge=0, le=1024 * 1024)
    # An endpoint is disabled after this many consecutive events that exhausted their retries.
    webhook_disable_after: int = Field(default=10, ge=1)
    webhook_secret_grace_s: int = Field(default=24 * 3600, ge=0)
    # A delivery handed to a worker is re-sent if it has not finished after this long
    # (the worker died); longer than the connect and read timeouts together.
    webhook_lease_s: float = Field(default=60.0, gt=0)
    # The dispatcher re-claims stream entries a dead consumer left unacknowledged this long.
    webhook_claim_idle_ms: int = Field(default=30_000, ge=100)
    webhook_dispatch_block_ms: int = Field(default=1000, ge=10, le=10_000)

    # Comment events and the review queue.
    event_stream_maxlen: int = Field(default=1_000_000, ge=1000)
    event_stream_max_age_days: int = Field(default=30, ge=1)
    review_claim_ttl_s: int = Field(default=300, ge=10, le=3600)
    undo_window_s: int = Field(default=300, ge=0, le=86400)
    bulk_max_items: int = Field(default=1000, ge=1, le=10000)

    # HTTP. The body limit must hold every body the comment schema allows: 20,000 characters
    # sent as JSON escapes (12 bytes for a character outside the BMP), 4 KB of metadata
    # escaped, the ids; 320 KiB does (tests/integration/test_api_hostile.py builds that body).
    # Lower, some valid comments (long non-Latin texts) are refused with 413.
    max_body_bytes: int = Field(default=320 * 1024, ge=1024)
    public_url: str = "http://127.0.0.1:8000"
    # Host names the API answers to (comma list, as Flask's TRUSTED_HOSTS: "example.org",
    # ".example.org" for subdomains); others get 400. Empty: any Host (redirects are
    # relative either way, so the Host header is never echoed into a Location).
    trusted_hosts: str = ""
    # Reverse proxies in front of the API whose X-Forwarded-For/-Proto to believe. 0: the
    # peer address is the client's (behind a proxy every client then shares the proxy's
    # failed-authentication budget); more than the real number lets clients forge addresses.
    proxy_hops: int = Field(default=0, ge=0, le=5)
    # /readyz shows check errors, worker hosts, pids and versions only to an admin key
    # unless this is true (the status codes are the same for everyone).
    readiness_details_public: bool = False

    # Abuse limits, counted in Redis so that every API process shares them; 0 turns one off.
    # Requests per API key per window: above any rate this stack sustains, so it stops only a
    # runaway client.
    rate_limit_per_key: int = Field(default=30_000, ge=0)
    rate_limit_window_s: int = Field(default=60, ge=1, le=86_400)
    # Failed authentications (unknown, revoked or expired key) per source address per window.
    # Past it every request from that address that presents a key is 429 until the window
    # ends, valid keys included: a different answer would tell a guesser the key is right.
    auth_fail_limit: int = Field(default=20, ge=0)
    auth_fail_window_s: int = Field(default=300, ge=1, le=86_400)

    # Moderator web page. Empty secret: one is generated and kept in Redis, so that every
    # API process signs sessions and CSRF tokens alike.
    secret_key: str = ""
    web_session_ttl_s: int = Field(default=8 * 3600, ge=60)
    review_reasons: str = (
        "Insult or personal attack,Threat of violence,Hate or dehumanising speech,"
        "Harassment,Spam or advertising,Off-topic,Not a violation"
    )

    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("rules_dirs", mode="before")
    @classmethod
    def _split_dirs(cls, value: object) -> object:
        if isinstance(value, str):
            return [Path(p) for p in value.replace(",", ":").split(":") if p]
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _check_schedule(cls, value: str) -> str:
        delays = [float(p) for p in value.split(",") if p.strip()]
        if any(d < 0 for d in delays) or len(delays) > 50:
            raise ValueError("webhook_retry_schedule: at most 50 non-negative delays in seconds")
        return value

    @field_validator("webhook_allow_nets")
    @classmethod
    def _check_nets(cls, value: str) -> str:
        for net in filter(None, (p.strip() for p in value.split(","))):
            ipaddress.ip_network(net, strict=False)  # ValueError names the bad entry
        return value

    def webhook_retry_delays(self) -> list[float]:
        return [float(p) for p in self.webhook_retry_schedule.split(",") if p.strip()]

    def webhook_allowed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [
            ipaddress.ip_network(p.strip(), strict=False)
            for p in self.webhook_allow_nets.split(",")
            if p.strip()
        ]

    @property
    def review_reason_list(self) -> list[str]:
        """The common reasons the moderator page offers, in the configured order."""
        return [r.strip() for r in self.review_reasons.split(",") if r.strip()]

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or self.redis_url

    def parsed_bootstrap_keys(self) -> list[tuple[Role, str]]:
        """Parse `role:secret` pairs; a malformed entry is a configuration error."""
        pairs: list[tuple[Role, str]] = []
        for item in filter(None, (p.strip() for p in self.bootstrap_keys.split(","))):
            role, sep, secret = item.partition(":")
            if not sep or role not in ROLES or len(secret) < 8:
                raise ValueError(
                    "MODERATION_BOOTSTRAP_KEYS entries must be role:secret with role in "
                    f"{', '.join(ROLES)} and a secret of 8+ characters; got {item[:20]!r}"
                )
            pairs.append((role, secret))
        return pairs
