"""Monitoring's writes, one module per part (queries, verification, signatures, locks, and the edit checks that
raise automatic queries): each write is ``<entity>_<verb>``, keyword-only, in one transaction, with its
permission checked at the record's site (``trial_site.permissions.require``). Reads are in ``monitoring.selectors``."""
