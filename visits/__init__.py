"""Visit schedule and case report forms."""
