/**
 * Answers repeated queries without decoding or encoding them again: a response depends only on the
 * query's bytes after its id, the transport and the records, so it is kept under those bytes (until
 * the records change or the cache fills) and sent again with the new query's id.
 *
 * @module
 */
import { respond, type Transport, type ZoneRecords } from './zone.js';

/** Bytes of a query worth keeping: a header and a question, at most a UDP message without EDNS. */
const MIN_KEY = 12;
const MAX_KEY = 512;

export class ResponseCache {
  private records: ZoneRecords | undefined;
  /** null: the query is dropped. */
  private readonly entries = new Map<string, Buffer | null>();

  constructor(private readonly maxEntries = 4096) {}

  respond(query: Buffer, records: ZoneRecords, transport: Transport): Buffer | undefined {
    if (query.length < MIN_KEY || query.length > MAX_KEY) return respond(query, records, transport);
    if (records !== this.records) {
      this.entries.clear();
      this.records = records;
    }
    const key = transport + query.toString('latin1', 2);
    let kept = this.entries.get(key);
    if (kept === undefined) {
      kept = respond(query, records, transport) ?? null;
      if (this.entries.size >= this.maxEntries) this.entries.clear();
      this.entries.set(key, kept);
    }
    if (kept === null) return undefined;
    const out = Buffer.from(kept);
    out[0] = query[0]!;
    out[1] = query[1]!;
    return out;
  }

  get size(): number {
    return this.entries.size;
  }
}
