-- The auth service's tables are created by its first migration.
SELECT 1;
