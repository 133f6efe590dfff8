"""modelyard's Python client: typed calls to the public HTTP API; the web UI and the CLI use it."""
from modelyard.client.api import DEFAULT_BACKEND, TERMINAL, ApiClient, ApiError, backend_url

__all__ = ["DEFAULT_BACKEND", "TERMINAL", "ApiClient", "ApiError", "backend_url"]
