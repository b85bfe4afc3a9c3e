"""Reporting: KPI queries for the dashboards (``kpis``), process analytics (``analytics``), the monthly
AUM snapshot (``snapshot``) and the period/filter scope they share (``scope``)."""
