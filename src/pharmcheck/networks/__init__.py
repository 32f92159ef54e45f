"""Affiliate networks across an audit: clusters of sites that share identifiers or a template
(both extracted per page and per site by extract/identifiers.py and extract/template.py)."""
