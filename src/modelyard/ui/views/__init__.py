"""The UI pages, one function per page, grouped by role.

Not `pages/`: Streamlit would read a folder of that name beside the app as pages of its own."""
