"""Operations: what IT staff and archivists see of a run that nobody watched.

The nightly run itself (nightly.py) only journals. This package records what
it did and how long each stage took (timing.py), writes the structured log
(runlog.py) and the per-run report (report.py), mails that report (mail.py),
and answers "did last night go well?" for monitoring (health.py).
"""
