"""A test app that adds one visit form through the registry alone (its model with a ``form_spec``, and the migration
``makemigrations`` wrote). ``tests/trial_site/test_adding_a_form.py`` runs ``found_everywhere.py`` with
``tests.registry_app.settings`` (the test settings plus this app) in a process of its own, so the main suite's
trial does not gain a form."""
