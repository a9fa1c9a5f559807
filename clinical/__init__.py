"""Pure clinical calculations and decisions: no Django, no I/O, exhaustively unit-tested.

eGFR, the ACR/EULAR score, mRSS and HAQ-DI totals, CTCAE grading, disease duration and visit windows arrive
here with the features that need them. Nothing in this package imports the rest of the project.
"""
