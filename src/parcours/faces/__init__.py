"""The faces: the `parcours` command, the HTTP API and the web pages. They parse, call the front
door and render (docs/architecture.md, "One engine, four faces")."""
