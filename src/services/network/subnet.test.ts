import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BangerError } from '../../api/errors.js';
import { bridgeSubnet, contains, lowestFree, overlappingRoute, subnetString } from './subnet.js';

test('the bridge subnet follows bridge_ip and cidr', () => {
  assert.equal(subnetString(bridgeSubnet('172.16.0.1', 24)), '172.16.0.0/24');
  assert.equal(subnetString(bridgeSubnet('10.9.8.77', 20)), '10.9.0.0/20');
  assert.equal(contains(bridgeSubnet('10.9.8.77', 20), '10.9.15.255'), true);
  assert.equal(contains(bridgeSubnet('10.9.8.77', 20), '10.9.16.0'), false);
});

test('a bridge address that is the network or broadcast address, or a bad cidr, is refused naming the key', () => {
  assert.throws(() => bridgeSubnet('172.16.0.0', 24), (e: unknown) => e instanceof BangerError && e.code === 'bad_request' && /bridge_ip/.test(e.hint ?? ''));
  assert.throws(() => bridgeSubnet('172.16.0.255', 24), /broadcast/);
  assert.throws(() => bridgeSubnet('172.16.0.1', 31), (e: unknown) => e instanceof BangerError && /cidr/.test(e.hint ?? ''));
  assert.throws(() => bridgeSubnet('172.16.0.300', 24), /not an IPv4 address/);
});

test('guests get the lowest free host address, never the bridge, network or broadcast address', () => {
  const s = bridgeSubnet('192.168.5.1', 30); // hosts .1 (bridge) and .2
  assert.equal(lowestFree(s, new Set()), '192.168.5.2');
  assert.equal(lowestFree(s, new Set(['192.168.5.2'])), undefined);
  const t = bridgeSubnet('10.0.0.3', 29);
  assert.equal(lowestFree(t, new Set(['10.0.0.1'])), '10.0.0.2');
  assert.equal(lowestFree(t, new Set(['10.0.0.1', '10.0.0.2'])), '10.0.0.4');
});

test('a host route overlapping the subnet is found; default routes and our own bridge are not overlaps', () => {
  const s = bridgeSubnet('172.16.0.1', 24);
  const routes = [{ dst: 'default', dev: 'eth0' }, { dst: '172.16.0.0/24', dev: 'banger0' }, { dst: '10.0.0.0/8', dev: 'eth0' }];
  assert.equal(overlappingRoute(s, routes, 'banger0'), undefined);
  assert.deepEqual(overlappingRoute(s, [...routes, { dst: '172.16.0.0/16', dev: 'docker0' }], 'banger0'), { dst: '172.16.0.0/16', dev: 'docker0' });
  assert.deepEqual(overlappingRoute(s, [{ dst: '172.16.0.77', dev: 'wg0' }], 'banger0'), { dst: '172.16.0.77', dev: 'wg0' });
  assert.equal(overlappingRoute(s, [{ dst: '172.16.1.0/24', dev: 'eth1' }], 'banger0'), undefined);
});
