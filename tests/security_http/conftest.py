"""The security findings replayed over real HTTP against gunicorn (transactional tests).

They live outside ``tests/security``: that package builds its world once, inside a transaction held open until its
last test on a worker is done, and a transactional test on the same worker meanwhile would see the world's rows and
could not empty the database. Here no such transaction is open.
"""
