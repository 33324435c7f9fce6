-- Pages of cases in id order, for department staff (the `division` row scope):
-- - a division's cases (`GET /cases`) are walked from the page's cursor and stop at the
--   page's limit. On `(division_id)` alone SQLite, which keeps no statistics, found every case
--   of the division (about 1.25 million at a million clients) and sorted them for each page:
--   500 to 800 ms.
-- - a client's cases in the division (`GET /clients/{id}/cases`) are found by both keys, in
--   id order; otherwise SQLite, offered the division's cases in id order, walks those instead.
DROP INDEX cases_division;
CREATE INDEX cases_division ON cases (division_id, id);
DROP INDEX cases_client_division;
CREATE INDEX cases_client_division ON cases (client_id, division_id, id);
