DROP INDEX allocations_ends_on;
DROP INDEX allocations_starts_on;
DROP TABLE change_audiences;
DROP TABLE changes;
