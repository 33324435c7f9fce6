DROP TABLE client_statements;
DROP TABLE correction_requests;
DROP TABLE access_requests;
