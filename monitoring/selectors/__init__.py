"""Monitoring's reads, one module per part: the audit trail, SDV plan and progress, query lists and counts,
signatures, lock status, and the record a query, verification, signature or lock is about. Scoped to the user's
sites, a fixed number of database queries per page. Writes are in ``monitoring.services``."""
