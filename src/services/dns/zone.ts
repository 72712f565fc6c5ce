/**
 * The `vm` zone as a pure function: a query packet (bytes) and the records (VM name → IPv4 address)
 * in, the response packet (bytes) out, or undefined when the query is to be dropped (undecodable, or
 * not a query). Only `<name>.vm` is answered; every other name is REFUSED for now — forwarding to an
 * upstream resolver comes with egress control. Packets are decoded and encoded by dns-packet.
 *
 * @module
 */
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, Question } from 'dns-packet';

export const ZONE = 'vm';
/** Short, because VMs come and go: a new VM resolves within seconds even through a caching resolver. */
export const RECORD_TTL = 5;
/** The largest UDP answer without EDNS (RFC 1035); larger ones are sent truncated (TC). */
export const UDP_LIMIT = 512;
/** The largest UDP answer offered to EDNS clients (the DNS flag day 2020 value). */
export const EDNS_UDP_LIMIT = 1232;

const RCODE = { NOERROR: 0, FORMERR: 1, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
type Rcode = (typeof RCODE)[keyof typeof RCODE];

export type Transport = 'udp' | 'tcp';

/** What the zone serves: VM names (lower case, without `.vm`) and their IPv4 addresses. */
export type ZoneRecords = ReadonlyMap<string, string>;

const SOA: Answer = {
  type: 'SOA',
  name: ZONE,
  ttl: RECORD_TTL,
  class: 'IN',
  data: { mname: `ns.${ZONE}`, rname: `hostmaster.${ZONE}`, serial: 1, refresh: 60, retry: 60, expire: 300, minimum: RECORD_TTL },
};

interface QuestionResult {
  rcode: Rcode;
  answers: Answer[];
  authorities: Answer[];
  authoritative: boolean;
}

const refused = (): QuestionResult => ({ rcode: RCODE.REFUSED, answers: [], authorities: [], authoritative: false });
const noData = (): QuestionResult => ({ rcode: RCODE.NOERROR, answers: [], authorities: [SOA], authoritative: true });

/** The answer to one question, given the records. Names are matched without regard to case. */
export function answerQuestion(q: Question, records: ZoneRecords): QuestionResult {
  const name = q.name.toLowerCase().replace(/\.$/, '');
  const type: string = q.type; // dns-packet decodes 255 as ANY, which its types leave out
  const inZone = name === ZONE || name.endsWith(`.${ZONE}`);
  if (!inZone || (q.class !== 'IN' && q.class !== 'ANY')) return refused();
  if (name === ZONE) {
    return type === 'SOA' || type === 'ANY' ? { rcode: RCODE.NOERROR, answers: [SOA], authorities: [], authoritative: true } : noData();
  }
  const address = records.get(name.slice(0, -(ZONE.length + 1)));
  if (address === undefined) return { rcode: RCODE.NXDOMAIN, answers: [], authorities: [SOA], authoritative: true };
  if (type !== 'A' && type !== 'ANY') return noData();
  return { rcode: RCODE.NOERROR, answers: [{ type: 'A', name: q.name, ttl: RECORD_TTL, class: 'IN', data: address }], authorities: [], authoritative: true };
}

function decode(bytes: Buffer): DecodedPacket | undefined {
  try {
    return dnsPacket.decode(bytes);
  } catch {
    return undefined;
  }
}

function flagsFor(query: DecodedPacket, rcode: Rcode, authoritative: boolean, truncated = false): number {
  let f = rcode;
  if (query.flag_rd) f |= dnsPacket.RECURSION_DESIRED;
  if (authoritative) f |= dnsPacket.AUTHORITATIVE_ANSWER;
  if (truncated) f |= dnsPacket.TRUNCATED_RESPONSE;
  return f;
}

/** The client's EDNS UDP payload size, when its query carries an OPT record. */
function ednsSize(query: DecodedPacket): number | undefined {
  const opt = (query.additionals ?? []).find((a) => a.type === 'OPT');
  return opt && 'udpPayloadSize' in opt && typeof opt.udpPayloadSize === 'number' ? opt.udpPayloadSize : undefined;
}

/**
 * The response to a query, or undefined to drop it. Several questions in one query (rare; many
 * servers refuse them) are answered together and the response takes the first one's rcode. Over UDP an
 * answer larger than the client's limit (512 bytes, or its EDNS size up to 1232) is replaced by its
 * header and questions with TC set, so the client retries over TCP.
 */
export function respond(bytes: Buffer, records: ZoneRecords, transport: Transport): Buffer | undefined {
  const query = decode(bytes);
  if (!query || query.type !== 'query') return undefined;
  const questions = query.questions ?? [];
  const edns = ednsSize(query);
  const additionals: Answer[] = edns === undefined ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_LIMIT, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }];
  const base: Packet = { type: 'response', id: query.id ?? 0, questions, additionals };
  if ((query as { opcode?: string }).opcode !== 'QUERY') return encode({ ...base, flags: flagsFor(query, RCODE.NOTIMP, false) });
  if (questions.length === 0) return encode({ ...base, flags: flagsFor(query, RCODE.FORMERR, false) });
  const results = questions.map((q) => answerQuestion(q, records));
  const first = results[0]!;
  const full = encode({
    ...base,
    flags: flagsFor(query, first.rcode, first.authoritative),
    answers: results.flatMap((r) => r.answers),
    authorities: results.flatMap((r) => r.authorities),
  });
  const limit = edns === undefined ? UDP_LIMIT : Math.min(Math.max(edns, UDP_LIMIT), EDNS_UDP_LIMIT);
  if (transport === 'tcp' || !full || full.length <= limit) return full;
  return encode({ ...base, flags: flagsFor(query, first.rcode, first.authoritative, true) });
}

function encode(p: Packet): Buffer | undefined {
  try {
    return dnsPacket.encode(p);
  } catch {
    return undefined;
  }
}
