"""What parcours accepts: the tables' fields, the settings, the report Query, the audience
conditions, and the loads that check files against them (docs/architecture.md, "Layers")."""
