"""Exports and reports: datasets, data dictionary, CDISC ODM, reports."""
