"""Case store: SQLAlchemy models, repositories, Alembic migrations. Nobody else writes SQL."""
