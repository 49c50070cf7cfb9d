ALTER INDEX used_once_expires_at RENAME TO dpop_proofs_expires_at;
ALTER TABLE used_once RENAME TO dpop_proofs;
DROP TABLE trust_policies;
