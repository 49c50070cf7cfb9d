DROP INDEX used_once_expires_at;
ALTER TABLE used_once RENAME TO dpop_proofs;
CREATE INDEX dpop_proofs_expires_at ON dpop_proofs (expires_at);
DROP TABLE trust_policies;
