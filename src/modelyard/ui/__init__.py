"""The web UI (Streamlit): a client of the public HTTP API only (modelyard.client); see docs/ui.md."""
