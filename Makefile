# Shortcuts to the project's commands. Each works on a fresh Debian machine: bin/* set up what they need first
# (bin/setup: the virtual environment, the npm assets, the translations).
#
#   make demo          the demo at http://127.0.0.1:8000 (bin/demo)
#   make test          the whole test suite (bin/test); ARGS="-m 'not e2e'" and the like go to pytest
#   make bench         every benchmark, rewriting docs/benchmarks.md (bin/bench); ARGS="pages" for one scenario
#   make screenshots   the key pages' pictures for the user guides, into docs/screenshots/
#
# The screenshots come from the browser test of a day at the trial (tests/e2e/test_trial_flows.py) on the demo
# trial, and from the browser tests of the day at the site (record status, a visit's forms, home pages, search and
# calendar, phones, confirmations; tests/e2e/screenshots.py names which test takes which picture). They run where the user's DATABASE_URL points, SQLite in memory when unset; with PostgreSQL and Redis
# (DATABASE_URL and REDIS_URL) its export job goes through a real Celery worker, as in CI.

SCREENSHOTS_DIR ?= docs/screenshots

.PHONY: demo test bench screenshots

demo:
	bin/demo

test:
	bin/test $(ARGS)

bench:
	bin/bench $(ARGS)

screenshots:
	SCREENSHOTS_DIR=$(SCREENSHOTS_DIR) bin/test -q $(ARGS) \
		tests/e2e/test_trial_flows.py tests/e2e/test_enter_a_visit.py tests/e2e/test_phone_widths.py \
		tests/e2e/test_home_todos.py tests/e2e/test_forms_fit.py tests/e2e/test_search_and_calendar.py \
		tests/e2e/test_dashboard.py tests/e2e/test_confirmations.py tests/e2e/test_reachable.py
	@ls -l $(SCREENSHOTS_DIR)/*.png
