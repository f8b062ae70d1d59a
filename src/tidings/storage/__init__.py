"""SQLAlchemy Core storage: functions take a connection, run SQL, return values; never commit."""
