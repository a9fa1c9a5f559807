"""Kernel models: sites, staff memberships with their roles, and the access log."""

from trial_site.models.access import AccessEvent
from trial_site.models.sites import Site, StaffMembership

__all__ = ["AccessEvent", "Site", "StaffMembership"]
