"""Operations: what IT staff and archivists see of a run that nobody watched.

The nightly run itself (`run/`) only journals, and times its stages
(`run/timing.py`). This package consumes what it gives back (`run/results.py`),
never the loop: it writes the structured log (runlog.py) and the per-run
report (report.py), mails that report (mail.py), and answers "did last night
go well?" for monitoring (health.py).
"""
