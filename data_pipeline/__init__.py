"""Data Pipeline: turns a PostgreSQL business database into Text-to-SQL training data."""
