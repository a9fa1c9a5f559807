"""Staff accounts: the administrators' Staff pages and everyone's own password (views, forms, selectors); the
writes are services of ``trial_site.services``."""
