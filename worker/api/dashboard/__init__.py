"""The dashboard: server-rendered pages under /dashboard over the API's own queries, live
through the API's LISTEN hub (`session` says how a browser signs in)."""

from worker.api.dashboard.routes import install

__all__ = ["install"]
