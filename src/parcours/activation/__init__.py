"""Activation: audiences over the profiles, their webhooks, and erasure and retention of personal
data (docs/architecture.md, "Audiences", "Personal data")."""
