-- Workload for the pgoutput golden files. Each step is one transaction unless noted.
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE golden (
  id int PRIMARY KEY,
  name text,
  big text,
  amount numeric(10,2),
  tags text[],
  feeling mood,
  ts timestamptz
);
-- Out-of-line storage at ~2 kB, so a 3000-byte value is TOASTed and an UPDATE that leaves it
-- alone sends it as 'u' (unchanged).
ALTER TABLE golden ALTER COLUMN big SET STORAGE EXTERNAL;

-- 1: insert with every kind of value, NULLs included
INSERT INTO golden VALUES (1, 'alice', repeat('x', 3000), 12.30, '{a,"b c"}', 'happy',
                           '2025-01-15 10:00:00+00');
-- 2: update leaving the TOASTed column unchanged
UPDATE golden SET name = 'alice2' WHERE id = 1;
-- 3: update of the primary key: old key sent
UPDATE golden SET id = 2 WHERE id = 1;
-- 4: insert with NULLs
INSERT INTO golden (id) VALUES (3);
-- 5: delete by key
DELETE FROM golden WHERE id = 3;
-- 6: REPLICA IDENTITY FULL: updates and deletes carry the whole old row
ALTER TABLE golden REPLICA IDENTITY FULL;
UPDATE golden SET amount = -0.05 WHERE id = 2;
DELETE FROM golden WHERE id = 2;
-- 7: truncate, then truncate with options on two tables
CREATE TABLE golden_child (id int PRIMARY KEY);
INSERT INTO golden VALUES (4, 'd');
TRUNCATE golden;
TRUNCATE golden, golden_child RESTART IDENTITY CASCADE;
-- 8: a transactional and a non-transactional logical message
BEGIN;
SELECT pg_logical_emit_message(true, 'pg2iceberg', 'marker-1');
INSERT INTO golden VALUES (5, 'e');
COMMIT;
SELECT pg_logical_emit_message(false, 'pg2iceberg', 'marker-2');
-- 9: a transaction with a replication origin
SELECT pg_replication_origin_create('golden_origin');
SELECT pg_replication_origin_session_setup('golden_origin');
BEGIN;
SELECT pg_replication_origin_xact_setup('0/ABCDEF', '2025-01-01 00:00:00+00');
INSERT INTO golden VALUES (6, 'origin');
COMMIT;
SELECT pg_replication_origin_session_reset();
-- 10: a transaction larger than logical_decoding_work_mem (64kB): streamed (proto 2)
BEGIN;
INSERT INTO golden (id, name) SELECT g, repeat('s', 500) FROM generate_series(100, 399) g;
COMMIT;
-- 11: a streamed transaction that aborts, and one whose subtransaction aborts
BEGIN;
INSERT INTO golden (id, name) SELECT g, repeat('a', 500) FROM generate_series(1000, 1299) g;
ROLLBACK;
BEGIN;
INSERT INTO golden (id, name) SELECT g, repeat('k', 500) FROM generate_series(2000, 2149) g;
SAVEPOINT sp;
INSERT INTO golden (id, name) SELECT g, repeat('r', 500) FROM generate_series(3000, 3299) g;
ROLLBACK TO SAVEPOINT sp;
INSERT INTO golden VALUES (4000, 'after-rollback');
COMMIT;
-- 12: a relation change mid-stream: the next change re-sends Relation
ALTER TABLE golden ADD COLUMN extra int;
INSERT INTO golden (id, extra) VALUES (5000, 42);
