"""The audit kernel: who changed what, when, from what to what, and why; history that cannot be rewritten.

- ``actor``: the acting user, from the request (middleware) or passed explicitly in tasks and commands.
- ``base``: ``ClinicalRecord``, the abstract base of every clinical model, and ``AppendOnlyModel``.
- ``history``: the one ``HistoricalRecords`` configuration every clinical model is registered with.
- ``protection`` and ``operations``: database triggers that make history tables append-only.
"""
