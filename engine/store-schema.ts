// The store's SQLite tables (engine/store.ts) and the rows read from them.
//
// Tables:
//   meta         format version and the commit sequence (every document write is stamped with it)
//   collections  the catalog: db, name, uuid and options (BSON) of every collection
//   indexes      index specs (BSON) per collection; `multikey` once an array value has been indexed
//   docs         documents as BSON by row id, with their _id key (engine/keys.ts) and the sequence that wrote them;
//                indexed by (collection, _id key) and by (collection, row id) for scans in storage order
//   ikeys        secondary index entries: (index, key, row id), in key order
//   sessions     the answer of the last retryable write or transaction of each logical session (MongoDB's
//                config.transactions), written in the same commit as the write it answers

/** The storage format this engine writes (1: the journal and snapshots of the first releases, engine/legacy.ts). */
export const FORMAT = 2;

/** Page size of a new database file. */
export const PAGE_SIZE = 8192;

export interface DocRow {
  rid: number;
  /** The _id key. */
  id: Uint8Array;
  ver: number;
  doc: Uint8Array;
}

export interface KeyRow {
  key: Uint8Array;
  rid: number;
}

export interface CollectionRow {
  cid: number;
  db: string;
  name: string;
  uuid: Uint8Array;
  options: Uint8Array;
}

export interface IndexRow {
  iid: number;
  cid: number;
  name: string;
  spec: Uint8Array;
  multikey: number;
  built_seq: number;
}

export interface SessionRow {
  txn_number: number;
  kind: string;
  reply: Uint8Array | null;
}

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v ANY) STRICT;
CREATE TABLE IF NOT EXISTS collections(cid INTEGER PRIMARY KEY, db TEXT NOT NULL, name TEXT NOT NULL,
  uuid BLOB NOT NULL, options BLOB NOT NULL, UNIQUE(db, name)) STRICT;
CREATE TABLE IF NOT EXISTS indexes(iid INTEGER PRIMARY KEY, cid INTEGER NOT NULL, name TEXT NOT NULL, spec BLOB NOT NULL,
  multikey INTEGER NOT NULL DEFAULT 0, built_seq INTEGER NOT NULL DEFAULT 0, UNIQUE(cid, name)) STRICT;
CREATE TABLE IF NOT EXISTS docs(rid INTEGER PRIMARY KEY, cid INTEGER NOT NULL, id BLOB NOT NULL, ver INTEGER NOT NULL,
  doc BLOB NOT NULL) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS docs_by_id ON docs(cid, id);
-- A collection's documents in row order: without it a page of a scan (cid = ? AND rid > ? ORDER BY rid) reads
-- and sorts the whole collection through docs_by_id, which makes reading a large collection quadratic.
CREATE INDEX IF NOT EXISTS docs_in_order ON docs(cid, rid);
CREATE TABLE IF NOT EXISTS ikeys(iid INTEGER NOT NULL, key BLOB NOT NULL, rid INTEGER NOT NULL,
  PRIMARY KEY(iid, key, rid)) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions(lsid BLOB PRIMARY KEY, txn_number INTEGER NOT NULL, kind TEXT NOT NULL,
  reply BLOB, last_use INTEGER NOT NULL) STRICT;
`;
