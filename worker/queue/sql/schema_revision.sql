-- The schema's Alembic revision (the table is missing when the database was never migrated).
SELECT version_num FROM alembic_version;
