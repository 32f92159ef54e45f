"""Affiliate networks across an audit: identifiers per site, template fingerprints, clusters."""
