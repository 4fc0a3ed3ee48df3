"""The build: identities stitched into persons, touches classified into channels, journeys and
profiles (docs/architecture.md, "Data model")."""
