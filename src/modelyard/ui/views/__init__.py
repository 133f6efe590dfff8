"""The UI pages, one function per page, grouped by role (not `pages/`: Streamlit would read that folder as pages of its own)."""
