"""Loads: files checked against the data contract (contract/schema.py) into the warehouse,
GA4 exports converted into such files, and what a workspace holds (docs/architecture.md,
"Data model")."""
