"""The work runtime: the open Runtime (context.py), the work units (jobs.py), the two dispatchers
(in-process executor, Celery), the parse process pool (cpu.py), claiming by leases (schedule.py), rounds
of polls, dead letters and their replay, task names and queues."""
