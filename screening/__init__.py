"""Screening and eligibility: participants, consent, screening forms, eligibility, screening log."""
