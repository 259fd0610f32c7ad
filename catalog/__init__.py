"""The catalog: uploads, assets, renditions and jobs (SQLAlchemy 2.x; SQLite or PostgreSQL)."""
