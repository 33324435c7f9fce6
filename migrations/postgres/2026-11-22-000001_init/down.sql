DROP TABLE settings;
DROP TABLE notes;
DROP TABLE allocations;
DROP TABLE cases;
DROP TABLE clients;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE organisations;
