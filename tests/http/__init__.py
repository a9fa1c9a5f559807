"""Tests over HTTP against gunicorn with real worker processes: races and double submits between processes."""
