DROP TABLE wrap_up_certificates;
DROP TABLE wrap_ups;
DROP TABLE attestations;
