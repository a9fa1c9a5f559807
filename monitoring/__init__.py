"""Monitoring: audit-trail review, data queries, source data verification, signatures and locks."""
