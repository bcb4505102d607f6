"""Operations: running the service and what operators see and do. The scheduler's tick and its duties
(service.py), the status snapshot and actions (ops.py), /metrics (metrics.py), the pure health figures
(health.py) and the retention of history tables (retention.py)."""
