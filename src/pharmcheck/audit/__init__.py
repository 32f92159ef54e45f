"""Batch audits: a list of sites -> `check_site` for each (on threads or worker processes)
-> an SQLite database and JSONL/CSV/JSON/HTML output. See `cli` for the commands."""
