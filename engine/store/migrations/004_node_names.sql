-- Some operators key nodes by id and reuse a display name across several buses (PJM pnode_id vs
-- pnode_name); the name is kept for people to read, the id stays the key.
ALTER TABLE node_metadata ADD COLUMN IF NOT EXISTS node_name String DEFAULT '' AFTER node;
