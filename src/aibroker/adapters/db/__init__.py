"""SQLAlchemy 2 (async) persistence: SQLite by default, PostgreSQL with DATABASE_URL."""
