"""Every Redis key the service uses, under one configurable prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "mod:"

    def comment(self, comment_id: str) -> str:
        return f"{self.prefix}comment:{comment_id}"

    def article_comments(self, article_id: str, status: str | None = None) -> str:
        """Sorted set of comment ids by creation time; one for all and one per status."""
        suffix = f"status:{status}" if status else "all"
        return f"{self.prefix}article:{article_id}:{suffix}"

    def pending(self) -> str:
        """Comments waiting for a verdict, scored by when they were last enqueued (sweeper)."""
        return f"{self.prefix}pending"

    def classify_leases(self) -> str:
        """Sorted set of `worker-id|comment-id`: a worker holds a lease on each comment it has
        taken from the classify queue, scored by when the lease ends (ms) unless renewed. An
        ended lease means the worker died: the sweeper re-queues the comment."""
        return f"{self.prefix}classify:leases"

    def dead_letter(self) -> str:
        return f"{self.prefix}dead-letter"

    def api_key(self, key_hash: str) -> str:
        return f"{self.prefix}apikey:{key_hash}"

    def api_key_index(self) -> str:
        return f"{self.prefix}apikeys"

    def rate_limit(self, bucket: str, window: int) -> str:
        """Counter of one fixed window (`window` = start time // window length) of one
        bucket (`key:<key id>`, `authfail:<address>`); shared by every API process and
        expiring by itself after the next window."""
        return f"{self.prefix}ratelimit:{bucket}:{window}"

    def workers(self) -> str:
        """Sorted set of classify workers with their model loaded, scored by last heartbeat."""
        return f"{self.prefix}workers"

    def worker_info(self, worker_id: str) -> str:
        return f"{self.prefix}worker:{worker_id}"

    def verdict_counts(self) -> str:
        return f"{self.prefix}stats:verdicts"

    def verdict_latency(self) -> str:
        """Histogram buckets of seconds from submission to machine verdict."""
        return f"{self.prefix}stats:verdict-latency"

    def explain_pending(self) -> str:
        """Sorted set of comment ids whose machine verdict waits for its spans, scored by
        when a worker may (re)claim it (ms): now, or the end of a worker's lease."""
        return f"{self.prefix}explain:pending"

    def author_stats(self, author_id: str) -> str:
        return f"{self.prefix}author:{author_id}:stats"

    def author_recent(self, author_id: str) -> str:
        """Sorted set of `text-hash:comment-id` by posting time, for repeat and burst rules."""
        return f"{self.prefix}author:{author_id}:recent"

    def article_settings(self, article_id: str) -> str:
        return f"{self.prefix}article:{article_id}:settings"

    def author_profile(self, author_id: str) -> str:
        return f"{self.prefix}author:{author_id}:profile"

    def author_comments(self, author_id: str) -> str:
        """Sorted set of an author's comment ids by creation time (ms): their history."""
        return f"{self.prefix}author:{author_id}:comments"

    def agreement_stats(self) -> str:
        """Hash of monotonic counters of moderator decisions against the machine's verdict:
        `<scope>|<name>|<outcome>` (scope: all, label, rule) -> count."""
        return f"{self.prefix}stats:agreement"

    def ruleset_active(self) -> str:
        """Hash: the ruleset activated through the admin API (version, files as JSON, who, when).
        When absent, workers use the rule files on disk."""
        return f"{self.prefix}ruleset:active"

    def ruleset_audit(self) -> str:
        """Stream of ruleset changes: who activated or reverted what, when, and why."""
        return f"{self.prefix}ruleset:audit"

    # -- comment events, audit, review ----------------------------------------------------

    def events(self) -> str:
        """Stream of comment events, one per state change (see moderation.domain.events)."""
        return f"{self.prefix}events"

    def comment_events(self, comment_id: str) -> str:
        """List of one comment's events, oldest first: its history."""
        return f"{self.prefix}events:comment:{comment_id}"

    def audit(self) -> str:
        """Append-only stream of every person's action (decisions, bans, keys, rules...)."""
        return f"{self.prefix}audit"

    def audit_for(self, target_type: str, target_id: str) -> str:
        """The audit entries about one comment, author or webhook (copies, same ids)."""
        return f"{self.prefix}audit:{target_type}:{target_id}"

    def review(self, status: str, ordering: str = "age", facet: str = "", value: str = "") -> str:
        """Review index of comments in a status (not pending), in one `ordering` (`age`:
        scored by creation time, `score`: highest label score, `priority`); with a facet
        (`article`, `author`, `label`, `rule`, `tag`, `edited`) only the comments that have
        that value, in the same ordering."""
        tail = f"{ordering}:{facet}:{value}" if facet else ordering
        return f"{self.prefix}review:{status}:{tail}"

    def review_article_counts(self, status: str) -> str:
        """Hash: article id -> number of its comments in the status."""
        return f"{self.prefix}review:{status}:article-counts"

    def review_scratch(self, token: str) -> str:
        """Short-lived intersection of review indexes for one filtered query."""
        return f"{self.prefix}review:scratch:{token}"

    def claim(self, comment_id: str) -> str:
        """A moderator's claim on a review item; expires by itself."""
        return f"{self.prefix}claim:{comment_id}"

    # -- moderator web page -------------------------------------------------------------

    def web_secret(self) -> str:
        """The generated secret that signs web sessions and CSRF tokens, shared by every
        API process; set once (SET NX), used only when no secret key is configured."""
        return f"{self.prefix}web:secret"

    def web_session(self, session_hash: str) -> str:
        """Hash: a signed-in moderator's session, by the SHA-256 of its cookie value;
        expires when idle."""
        return f"{self.prefix}web:session:{session_hash}"

    # -- webhooks -----------------------------------------------------------------------

    def webhooks(self) -> str:
        """Set of webhook subscription ids."""
        return f"{self.prefix}webhooks"

    def webhook(self, webhook_id: str) -> str:
        """Hash: one subscription (url, filters, secrets, failure streak)."""
        return f"{self.prefix}webhook:{webhook_id}"

    def webhook_deliveries(self, webhook_id: str) -> str:
        """Sorted set of a subscription's delivery ids by creation time (ms)."""
        return f"{self.prefix}webhook:{webhook_id}:deliveries"

    def webhook_delivery(self, delivery_id: str) -> str:
        """Hash: one message to one endpoint (payload, state, attempt count)."""
        return f"{self.prefix}webhook-delivery:{delivery_id}"

    def webhook_attempts(self, delivery_id: str) -> str:
        """List of a delivery's attempts as JSON, oldest first."""
        return f"{self.prefix}webhook-delivery:{delivery_id}:attempts"

    def webhook_delivery_lock(self, delivery_id: str) -> str:
        """Held while an attempt is in flight, so two copies of a task do not both send."""
        return f"{self.prefix}webhook-delivery:{delivery_id}:lock"

    def webhook_due(self) -> str:
        """Sorted set of delivery ids by when they are next due (ms): retries, and a lease
        on those handed to a worker, re-sent if the worker dies."""
        return f"{self.prefix}webhook-due"

    def webhook_dead_letter(self) -> str:
        """Sorted set of delivery ids that exhausted their retries, by time (ms)."""
        return f"{self.prefix}webhook-dead-letter"

    def webhook_stats(self) -> str:
        """Hash of monotonic counters: delivered, failed attempts, dead-lettered."""
        return f"{self.prefix}stats:webhooks"
