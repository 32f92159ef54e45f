"""pharmcheck: tells whether an online pharmacy is legitimate, and shows the evidence."""

__version__ = "0.1.0"
TOOL_NAME = "pharmcheck"
TOOL_URL = "https://github.com/pharmcheck/pharmcheck"
