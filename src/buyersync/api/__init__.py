"""The HTTP edge of buyersync: :func:`create_app` builds the FastAPI app ``serve`` runs."""

from buyersync.api.app import create_app

__all__ = ["create_app"]
