import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllowList } from '../../model/egress.js';
import { renderBase, renderDnsAllow, renderTeardown, renderVmAdd, renderVmEgress, renderVmRemove } from '../../services/network/nft-rules.js';
import { checkBangerListing, checkBangerScript, NftScriptRefused, splitCommands } from './nft-guard.js';

const VM = { key: 'abc123', tap: 'bgtap3', ip: '10.9.0.2', mac: '52:54:00:aa:bb:cc', nat: true, allow: parseAllowList(['example.com,10.1.2.0/24,192.0.2.7']) };

test('every script bridge mode renders passes the guard', () => {
  for (const script of [
    renderBase({ bridge: 'banger0', gateway: '10.213.0.1', isolate: true }),
    renderBase({ bridge: 'banger0', gateway: '10.213.0.1', isolate: false }),
    renderVmAdd(VM),
    renderVmAdd({ key: VM.key, tap: VM.tap, ip: VM.ip, mac: VM.mac, nat: false }),
    renderVmEgress({ ...VM, nat: false }, VM),
    renderVmRemove(VM),
    renderDnsAllow('abc123', ['93.184.216.34', '93.184.216.35'], 300),
    renderTeardown(),
  ]) {
    assert.doesNotThrow(() => checkBangerScript(script), script);
  }
  // The line-by-line fallback of a failed removal sends each line alone.
  for (const line of renderVmRemove(VM).split('\n').filter((l) => l.trim() !== '')) assert.doesNotThrow(() => checkBangerScript(`${line}\n`));
});

test('commands are split on newlines and semicolons outside braces and strings', () => {
  assert.deepEqual(splitCommands('add table inet banger; add set inet banger s { type ipv4_addr; flags interval; }\nadd rule inet banger c log prefix "a; b" drop\n'), [
    'add table inet banger',
    'add set inet banger s { type ipv4_addr; flags interval; }',
    'add rule inet banger c log prefix "a; b" drop',
  ]);
});

test('anything outside banger\'s tables, or that reads files or variables, is refused', () => {
  for (const script of [
    '',
    'flush ruleset',
    'list ruleset',
    'add table ip nat',
    'add chain inet filter input',
    'add rule bridge filter forward drop',
    'delete table inet banger2',
    'add table inet banger\nadd table ip x',
    'table inet banger { chain c { } }\ntable ip x { }',
    'table inet banger { chain c { } } table ip x { }',
    'table inet banger { chain c { } }; flush ruleset',
    'include "/etc/passwd"',
    'add rule inet banger c ip saddr $evil drop',
    'add rule inet banger c drop # comment',
    'add rule inet banger c log prefix "x\\" ; flush ruleset" drop',
    'add rule inet banger c { drop',
    'add rule inet banger c } drop {',
  ]) {
    assert.throws(() => checkBangerScript(script), NftScriptRefused, JSON.stringify(script));
  }
});

test('listings: only objects of banger\'s tables', () => {
  assert.deepEqual(checkBangerListing(['counter', 'inet', 'banger', 'deny-abc']), ['counter', 'inet', 'banger', 'deny-abc']);
  assert.deepEqual(checkBangerListing(['table', 'bridge', 'banger']), ['table', 'bridge', 'banger']);
  for (const what of [['ruleset'], ['table', 'ip', 'filter'], ['set', 'inet', 'banger'], ['set', 'inet', 'banger', 'a b'], ['set', 'inet', 'banger', 's', 'x'], ['chain', 'inet', 'banger', 1]]) {
    assert.throws(() => checkBangerListing(what), NftScriptRefused, JSON.stringify(what));
  }
});
