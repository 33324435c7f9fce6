DROP TABLE policy_acceptances;
DROP INDEX policy_documents_in_force;
DROP TABLE policy_documents;
