"""The scoring model, pure: state and one input in, new state and outputs out.

No faust, Kafka or wall clock here; every time is event time.  Read in this order:
``config`` (every number), ``report_card`` (grades), ``dazzle`` (balance and loyalty),
``consistency`` / ``moments`` (predictability), ``alerts`` (policy and ids), ``assembly``
(contacts), ``customer`` and ``entity`` (the two entry points).  docs/scoring.md explains
the model with its formulas and a worked example.
"""
