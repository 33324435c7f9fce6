DROP TABLE change_audiences;
DROP TABLE changes;
