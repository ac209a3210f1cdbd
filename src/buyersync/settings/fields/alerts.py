"""Settings of alerts (thresholds, e-mail, webhook) and of the API and dashboard access."""

from __future__ import annotations

from buyersync.settings.spec import Spec

ALERTS: tuple[Spec, ...] = (
    Spec(
        "alert_missing_threshold",
        int,
        0,
        "Alert when more buyers than this are missing.",
        "--alert-missing-threshold",
    ),
    Spec(
        "alert_error_rate_threshold",
        float,
        0.05,
        "Alert when the last sync's error rate (failed / rows read) exceeds this.",
        "--alert-error-rate-threshold",
    ),
    Spec(
        "alert_slow_sync_seconds",
        float,
        900.0,
        "Alert when a sync takes longer than this.",
        "--alert-slow-sync-seconds",
    ),
    Spec(
        "alert_stale_seconds",
        float,
        7200.0,
        "Alert when no sync has succeeded for this long (dead-man's switch; 0 disables).",
        "--alert-stale-seconds",
    ),
    Spec(
        "alert_cooldown_seconds",
        float,
        3600.0,
        "Do not repeat the same alert within this many seconds.",
        "--alert-cooldown-seconds",
    ),
    Spec(
        "smtp_host", str, None, "SMTP server for e-mail alerts (unset: no e-mail).", "--smtp-host"
    ),
    Spec("smtp_port", int, 587, "SMTP port.", "--smtp-port"),
    Spec("smtp_user", str, None, "SMTP login user.", "--smtp-user"),
    Spec(
        "smtp_password",
        str,
        None,
        "SMTP login password.",
        "--smtp-password",
        secret=True,
        file_flag="--smtp-password-file",
    ),
    Spec("smtp_from", str, "buyersync@localhost", "Sender address of alert mails.", "--smtp-from"),
    Spec("smtp_to", str, None, "Recipients of alert mails, comma-separated.", "--smtp-to"),
    Spec(
        "smtp_starttls",
        bool,
        True,
        "Require STARTTLS on ports other than 465 (465 always uses implicit TLS); "
        "turn off only for a local relay without TLS.",
        "--smtp-starttls",
    ),
    Spec(
        "smtp_allow_plaintext_auth",
        bool,
        False,
        "Allow sending the SMTP password over a connection without TLS (never needed "
        "with TLS; refused otherwise).",
        "--smtp-allow-plaintext-auth",
    ),
    Spec(
        "webhook_url",
        str,
        None,
        "URL that receives alerts as a JSON POST (Slack-compatible 'text' field).",
        "--webhook-url",
        secret=True,
    ),
    Spec(
        "api_token",
        str,
        None,
        "Bearer token required by the HTTP API (unset: serve binds loopback only).",
        "--api-token",
        secret=True,
        file_flag="--api-token-file",
    ),
    Spec(
        "allowed_hosts",
        str,
        None,
        "serve: host names the dashboard answers besides localhost, 127.0.0.1 and [::1] "
        "(the Host header; others get 400). Repeat the flag or separate by commas.",
        "--allowed-host",
        multiple=True,
    ),
)
