/** banger dns status and setup against a fake host and a fixed daemon answer: --dry-run and the recipe change nothing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Command } from 'commander';
import type { DnsStatus } from '../../api/types.js';
import { RESOLVED_DROPIN, resolvedDropIn, resolvedLinkCommands, resolverRecipe } from '../../system/resolver.js';
import { CliContext, ExitStatus } from '../context.js';
import type { CliIO } from '../io.js';
import { reportError } from '../render.js';
import { registerDns, type ResolverHost } from './dns.js';

const STATUS: DnsStatus = { configured: '127.0.0.1:42069', addr: '127.0.0.1:42069', answers: true, records: 2, zone: 'vm' };

function capture(): CliIO & { out(): string; err(): string } {
  const sink = () => {
    const chunks: string[] = [];
    return { w: new Writable({ write: (c: Buffer | string, _e, cb) => (chunks.push(c.toString()), cb()) }), text: () => chunks.join('') };
  };
  const o = sink();
  const e = sink();
  return { stdout: o.w, stderr: e.w, stdin: process.stdin, env: { NO_COLOR: '1' }, out: o.text, err: e.text };
}

function fakeHost(o: { uid?: number; resolved?: boolean } = {}): ResolverHost & { applied: string[] } {
  const applied: string[] = [];
  return {
    applied,
    uid: () => o.uid ?? 0,
    resolvedRunning: () => o.resolved ?? true,
    apply: (a) => (applied.push(a), Promise.resolve()),
    applyLink: (link, ip) => (applied.push(`${link} ${ip}`), Promise.resolve()),
  };
}

async function runDns(argv: string[], host: ResolverHost, status: DnsStatus = STATUS) {
  const io = capture();
  const program = new Command('banger').option('--json').option('--debug').exitOverride();
  const ctx = new CliContext(io, program);
  registerDns(program, ctx, host, () => Promise.resolve(status));
  let code = 0;
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    code = err instanceof ExitStatus ? err.status : reportError(io, err, ctx.globals);
  }
  return { code, out: io.out(), err: io.err() };
}

test('dns status prints the listener, whether it answers and the record count; --json the status', async () => {
  const r = await runDns(['dns', 'status'], fakeHost());
  assert.equal(r.out, 'listener: 127.0.0.1:42069 (udp, tcp)\nanswers:  yes\nrecords:  2 (*.vm, running VMs)\n');
  assert.deepEqual(JSON.parse((await runDns(['--json', 'dns', 'status'], fakeHost())).out), STATUS);
  const down = await runDns(['dns', 'status'], fakeHost(), { configured: '127.0.0.1:53', error: 'cannot listen on 127.0.0.1:53: EADDRINUSE', answers: false, records: 0, zone: 'vm' });
  assert.match(down.out, /^listener: not listening: cannot listen on 127\.0\.0\.1:53: EADDRINUSE\nanswers: {2}no\n/);
  const bridge: DnsStatus = { ...STATUS, guest: { addr: '10.213.0.1:53', answers: true } };
  const g = await runDns(['dns', 'status'], fakeHost(), bridge);
  assert.equal(g.out, 'listener: 127.0.0.1:42069 (udp, tcp)\nanswers:  yes\nguests:   10.213.0.1:53 (udp, tcp; bridge mode)\nanswers:  yes\nrecords:  2 (*.vm, running VMs)\n');
  assert.deepEqual(JSON.parse((await runDns(['--json', 'dns', 'status'], fakeHost(), bridge)).out).guest, { addr: '10.213.0.1:53', answers: true });
  const busy = await runDns(['dns', 'status'], fakeHost(), { ...STATUS, guest: { error: 'cannot listen on 10.213.0.1:53: EADDRINUSE', answers: false } });
  assert.match(busy.out, /\nguests: {3}not listening: cannot listen on 10\.213\.0\.1:53: EADDRINUSE\nanswers: {2}no\n/);
});

test('dns setup --dry-run prints the drop-in and the command, changes nothing, and notes root', async () => {
  const host = fakeHost({ uid: 1000 });
  const r = await runDns(['dns', 'setup', '--dry-run'], host);
  assert.equal(r.code, 0);
  const dropIn = '# Managed by banger (banger dns setup): <name>.vm goes to the banger daemon.\n[Resolve]\nDNS=127.0.0.1:42069\nDomains=~vm\n';
  assert.equal(resolvedDropIn('127.0.0.1:42069'), dropIn);
  assert.equal(r.out, `Would write ${RESOLVED_DROPIN}:\n\n${dropIn}\nWould run:\n  systemctl restart systemd-resolved\n`);
  assert.match(r.err, /needs root/);
  assert.deepEqual(host.applied, []);
});

test('dns setup without systemd-resolved prints the recipe and exits 0', async () => {
  const host = fakeHost({ resolved: false });
  const r = await runDns(['dns', 'setup'], host);
  assert.equal(r.code, 0);
  assert.equal(r.out, resolverRecipe('127.0.0.1:42069'));
  assert.match(r.out, /server=\/vm\/127\.0\.0\.1#42069/);
  assert.deepEqual(host.applied, []);
});

test('dns setup needs root for the real change, and applies it as root', async () => {
  const denied = await runDns(['dns', 'setup'], fakeHost({ uid: 1000 }));
  assert.equal(denied.code, 2);
  assert.equal(denied.err, 'banger: banger dns setup needs root\nhint: sudo banger dns setup (or --dry-run to see what it does)\n');
  const host = fakeHost();
  const ok = await runDns(['dns', 'setup'], host);
  assert.equal(ok.code, 0);
  assert.deepEqual(host.applied, ['127.0.0.1:42069']);
});

test('dns setup refuses when the server is off', async () => {
  const r = await runDns(['dns', 'setup', '--dry-run'], fakeHost(), { configured: '', answers: false, records: 0, zone: 'vm' });
  assert.equal(r.code, 2);
  assert.match(r.err, /the DNS server is off/);
});

const BRIDGE: DnsStatus = { ...STATUS, guest: { addr: '10.213.0.1:53', answers: true, link: 'banger0' } };

test('in bridge mode, dns setup wires the bridge link: DNS = the bridge address, routing-only ~vm, no default route', async () => {
  assert.deepEqual(resolvedLinkCommands('banger0', '10.213.0.1'), [
    ['resolvectl', 'dns', 'banger0', '10.213.0.1'],
    ['resolvectl', 'domain', 'banger0', '~vm'],
    ['resolvectl', 'default-route', 'banger0', 'false'],
  ]);
  assert.throws(() => resolvedLinkCommands('bad name;', '10.213.0.1'), /invalid interface name/);
  assert.throws(() => resolvedLinkCommands('banger0', '10.213.0.1; reboot'), /invalid bridge address/);

  const host = fakeHost({ uid: 1000 });
  const dry = await runDns(['dns', 'setup', '--dry-run'], host, BRIDGE);
  assert.equal(dry.code, 0);
  assert.equal(
    dry.out,
    'Would run:\n  resolvectl dns banger0 10.213.0.1\n  resolvectl domain banger0 ~vm\n  resolvectl default-route banger0 false\n(bangerd runs these again each time it creates banger0)\n',
  );
  assert.match(dry.err, /needs root/);
  const json = JSON.parse((await runDns(['--json', 'dns', 'setup', '--dry-run'], host, BRIDGE)).out);
  assert.deepEqual(json, { dryRun: true, resolved: true, scope: 'link', link: 'banger0', addr: '10.213.0.1:53', commands: resolvedLinkCommands('banger0', '10.213.0.1') });
  assert.deepEqual(host.applied, []);

  const root = fakeHost();
  const ok = await runDns(['dns', 'setup'], root, BRIDGE);
  assert.equal(ok.code, 0);
  assert.deepEqual(root.applied, ['banger0 10.213.0.1']);
  assert.match(ok.out, /^set DNS 10\.213\.0\.1 and domain ~vm on banger0: \*\.vm now goes to 10\.213\.0\.1:53/);
  const noResolved = await runDns(['dns', 'setup'], fakeHost({ resolved: false }), BRIDGE);
  assert.equal(noResolved.out, resolverRecipe('10.213.0.1:53'));
});

test('dns setup help says how each mode is wired and why user mode uses a global drop-in', async () => {
  const io = capture();
  const p2 = new Command('banger').option('--json').exitOverride().configureOutput({ writeOut: (s) => io.stdout.write(s) });
  registerDns(p2, new CliContext(io, p2), fakeHost(), () => Promise.resolve(STATUS));
  await p2.parseAsync(['dns', '--help'], { from: 'user' }).catch(() => undefined);
  assert.match(io.out(), /bridge mode {2}per link/);
  assert.match(io.out(), /user mode {4}there is no link of banger's/);
});
