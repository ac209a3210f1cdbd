"""Google credential files whose token endpoint is the local stand-in's."""

from __future__ import annotations

import json
import secrets
from pathlib import Path


def write_service_account(
    path: str | Path, token_uri: str, email: str = "buyersync-test@stand-in.iam.gserviceaccount.com"
) -> Path:
    """Write a service-account JSON with a fresh RSA key whose ``token_uri`` is ours.

    google-auth signs its JWT with this key and posts it to ``token_uri``; point it at
    :attr:`SheetsServer.token_uri` to run the whole token flow locally.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    info = {
        "type": "service_account",
        "project_id": "stand-in",
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": email,
        "client_id": "1" * 21,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    out = Path(path)
    out.write_text(json.dumps(info), encoding="utf-8")
    out.chmod(0o600)
    return out


def write_authorized_user(path: str | Path, token_uri: str) -> Path:
    """Write an ``authorized_user`` JSON (what ``gcloud auth application-default login``
    writes) whose ``token_uri`` is ours, so its refresh-token flow runs locally."""
    info = {
        "type": "authorized_user",
        "client_id": "stand-in.apps.googleusercontent.com",
        "client_secret": secrets.token_hex(12),
        "refresh_token": "1//stand-in-" + secrets.token_hex(16),
        "token_uri": token_uri,
    }
    out = Path(path)
    out.write_text(json.dumps(info), encoding="utf-8")
    out.chmod(0o600)
    return out


def write_external_account(
    path: str | Path, token_uri: str, subject_token_file: str | Path
) -> Path:
    """Write an ``external_account`` JSON (workload identity federation) whose security
    token service is ours and whose subject token is read from a local file."""
    info = {
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/"
        "stand-in/providers/stand-in",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": token_uri,
        "credential_source": {"file": str(subject_token_file)},
    }
    out = Path(path)
    out.write_text(json.dumps(info), encoding="utf-8")
    out.chmod(0o600)
    return out
