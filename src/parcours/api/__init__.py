"""The HTTP app: one factory that mounts each capability's routes, with one error handler."""

from parcours.api.app import create_app

__all__ = ["create_app"]
