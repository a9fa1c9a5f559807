"""A clinical model that exists only in the test settings, to test the audit kernel on its own."""
