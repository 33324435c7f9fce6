DROP INDEX cases_retention;
