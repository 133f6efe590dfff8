"""The web UI (Streamlit): a client of the public HTTP API only; see docs/ui.md."""
