"""Data-subject requests (PIPL Arts. 45 and 47, docs/domain.md §3.1 and §3.7) and the erasure of a customer's
personal data: on request, or by the retention run once the AML years after the relationship have passed (§3.4)."""
