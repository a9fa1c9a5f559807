"""Safety: adverse events, SAE reports, laboratory safety alerts."""
