"""The UI pages, one function per page, grouped by role."""
