DROP TABLE legal_holds;
DROP TABLE complaints;
DROP TABLE consents;
DROP TABLE notices_given;
DROP TABLE collection_notices;
