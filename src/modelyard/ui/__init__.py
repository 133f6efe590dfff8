"""The web UI (Streamlit): a client of the public HTTP API only; see docs/ui.md."""
import sys

from modelyard.client import api as _client_api

# The UI's client moved to modelyard.client (one client for the UI, the CLI and scripts); pages written
# against `modelyard.ui.client` keep importing the same module.
sys.modules[__name__ + ".client"] = _client_api
client = _client_api
