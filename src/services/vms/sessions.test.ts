import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BangerError } from '../../api/errors.js';
import { parseKillSessionRequest, parseSendSessionRequest, parseSessionLogsQuery, parseStartSessionRequest, parseStopSessionRequest } from '../../api/sessions.js';
import type { SessionRow } from '../../store/sessions.js';
import { parseStatusLines, sessionView } from './sessions.js';

const row: SessionRow = { vmId: 'aaaaaaaaaaaa', name: 'web', command: ['sleep', '9'], startedAt: '2026-01-01T00:00:00.000Z' };

describe('guest sessions: status and view', () => {
  it('reads the guest status lines', () => {
    const m = parseStatusLines('web running\njob exited 3 1767225660\nold lost 1767225600\n\ngarbage\nx exited notanumber 1\n');
    assert.deepEqual(m.get('web'), { state: 'running' });
    assert.deepEqual(m.get('job'), { state: 'exited', exitStatus: 3, endedAt: '2026-01-01T00:01:00.000Z' });
    assert.deepEqual(m.get('old'), { state: 'lost', endedAt: '2026-01-01T00:00:00.000Z' });
    assert.equal(m.has('garbage'), false);
    assert.equal(m.has('x'), false);
  });
  it('shows a recorded end over the guest, the guest over nothing, and unknown for a VM that is not running', () => {
    const ended = { ...row, endedAt: '2026-01-01T00:05:00.000Z', exitStatus: 143 };
    assert.equal(sessionView('dev', ended, { state: 'running' }, true).state, 'exited');
    assert.equal(sessionView('dev', ended, undefined, false).exitStatus, 143);
    assert.equal(sessionView('dev', { ...row, endedAt: '2026-01-01T00:05:00.000Z' }, undefined, true).state, 'lost');
    const live = sessionView('dev', row, { state: 'exited', exitStatus: 1, endedAt: '2026-01-01T00:01:00.000Z' }, true);
    assert.deepEqual([live.state, live.exitStatus, live.endedAt], ['exited', 1, '2026-01-01T00:01:00.000Z']);
    assert.equal(sessionView('dev', row, undefined, true).state, 'lost', 'no files in a running guest');
    const off = sessionView('dev', row, undefined, false);
    assert.equal(off.state, 'unknown');
    assert.equal(off.guestDir, '~/.cache/banger/sessions/web');
    assert.equal(off.vm, 'dev');
  });
  it('parses start, stop and kill requests, refusing bad fields', () => {
    assert.deepEqual(parseStartSessionRequest({ command: ['a', 'b c'], name: 'x', cwd: '/root' }), { command: ['a', 'b c'], name: 'x', cwd: '/root' });
    assert.throws(() => parseStartSessionRequest({ command: [] }), /non-empty list/);
    assert.throws(() => parseStartSessionRequest({ command: 'ls' }), /non-empty list/);
    assert.throws(() => parseStartSessionRequest({ command: [''] }), /empty argument/);
    assert.throws(() => parseStartSessionRequest({ command: ['ls'], cwd: '/root/../etc' }), /not an absolute guest path/);
    assert.throws(() => parseStartSessionRequest({ command: ['ls'], pty: true }), /unknown field "pty"/);
    assert.deepEqual(parseStartSessionRequest({ command: ['top'], tty: true }), { command: ['top'], tty: true });
    assert.deepEqual(parseStartSessionRequest({ command: ['top'], tty: { rows: 40, cols: 120, term: 'screen' } }).tty, { rows: 40, cols: 120, term: 'screen' });
    assert.throws(() => parseStartSessionRequest({ command: ['top'], tty: { rows: 0, cols: 80 } }), /rows and cols must be whole numbers from 1 to 1000/);
    assert.throws(() => parseStartSessionRequest({ command: ['top'], tty: { rows: 24, cols: 80, term: 'x; rm -rf /' } }), /is not a terminal type/);
    assert.deepEqual(parseStopSessionRequest({ timeoutSeconds: 3 }), { timeoutSeconds: 3 });
    assert.throws(() => parseStopSessionRequest({ timeoutSeconds: -1 }), /timeoutSeconds/);
    assert.deepEqual(parseKillSessionRequest({ signal: 'term' }), { signal: 'SIGTERM' });
    assert.throws(() => parseKillSessionRequest({ signal: 'SIGWHAT' }), /unsupported signal/);
  });
  it('parses the output query: offset or tail, follow; anything else is a bad_request naming it', () => {
    assert.deepEqual(parseSessionLogsQuery({}), { follow: false });
    assert.deepEqual(parseSessionLogsQuery({ offset: '12', follow: '1' }), { offset: 12, follow: true });
    assert.deepEqual(parseSessionLogsQuery({ tail: '0', follow: 'false' }), { tail: 0, follow: false });
    assert.throws(() => parseSessionLogsQuery({ offset: '1', tail: '1' }), /offset or tail, not both/);
    assert.throws(() => parseSessionLogsQuery({ offset: '1e3' }), /offset must be a whole number of bytes, not "1e3"/);
    assert.throws(() => parseSessionLogsQuery({ lines: '10' }), /unknown query parameter "lines"/);
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('offset', 'tail', 'follow', 'x'), fc.string({ maxLength: 8 }), { maxKeys: 3 }), (q) => {
        try {
          const r = parseSessionLogsQuery(q);
          if (r.offset !== undefined) assert.equal(String(r.offset), q.offset);
          if (r.tail !== undefined) assert.equal(String(r.tail), q.tail);
          assert.ok(r.offset === undefined || r.tail === undefined);
        } catch (err) {
          assert.ok(err instanceof BangerError && err.code === 'bad_request', String(err));
        }
      }),
      { seed: 1507 },
    );
  });
  it('parses a send: some text, at most 64 KiB of it (counted in UTF-8 bytes)', () => {
    assert.deepEqual(parseSendSessionRequest({ data: 'hi\n' }), { data: 'hi\n' });
    assert.throws(() => parseSendSessionRequest({}), /data is required/);
    assert.throws(() => parseSendSessionRequest({ data: 3 }), /data must be a string/);
    assert.throws(() => parseSendSessionRequest({ data: 'x', line: 'y' }), /unknown field "line"/);
    assert.doesNotThrow(() => parseSendSessionRequest({ data: 'x'.repeat(64 * 1024) }));
    assert.throws(() => parseSendSessionRequest({ data: 'é'.repeat(32 * 1024 + 1) }), /65538 bytes; at most 65536/);
  });
});
