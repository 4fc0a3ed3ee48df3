"""The warehouse behind the engine contract (`storage.Storage`): DuckDB or Spark through Ibis, and
the workspace folder that holds it (docs/architecture.md, "Storage")."""
