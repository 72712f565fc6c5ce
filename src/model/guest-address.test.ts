import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { guestAddressProblems, guestBitsReaddress, parseReaddressAnswer, readdressCommand } from './guest-address.js';

const good = { mac: '02:fc:0a:00:00:07', address: '10.213.0.7', prefix: 24, gateway: '10.213.0.1', nameservers: ['10.213.0.1'] };

describe('guest address', () => {
  it('builds the readdress line the guest channel reads', () => {
    assert.equal(readdressCommand(good), 'readdress 02:fc:0a:00:00:07 10.213.0.7/24 10.213.0.1 10.213.0.1');
    assert.equal(readdressCommand({ ...good, nameservers: [] }), 'readdress 02:fc:0a:00:00:07 10.213.0.7/24 10.213.0.1');
  });

  it('refuses what the guest must not be told, naming each problem', () => {
    assert.deepEqual(guestAddressProblems({ ...good, mac: '03:fc:0a:00:00:07' }), ['MAC 03:fc:0a:00:00:07 is a multicast address']);
    assert.deepEqual(guestAddressProblems({ ...good, mac: '02:FC:0A:00:00:07' }), ['MAC "02:FC:0A:00:00:07" is not six lower-case hex pairs']);
    assert.deepEqual(guestAddressProblems({ ...good, gateway: '10.214.0.1' }), ['gateway 10.214.0.1 is outside 10.213.0.7/24']);
    assert.deepEqual(guestAddressProblems({ ...good, address: '10.213.0.256', prefix: 0, nameservers: ['x; reboot'] }), [
      'address "10.213.0.256" is not IPv4',
      'prefix 0 is not 1 to 32',
      'nameserver "x; reboot" is not IPv4',
    ]);
    assert.throws(() => readdressCommand({ ...good, address: '1.2.3.4 5' }), /cannot re-address the guest: address "1\.2\.3\.4 5" is not IPv4/);
  });

  it('reads the guest answer, and which guest bits answer readdress', () => {
    assert.deepEqual(parseReaddressAnswer('ok readdress eth0 02:fc:0a:00:00:07 10.213.0.7/24\n'), { dev: 'eth0', mac: '02:fc:0a:00:00:07', cidr: '10.213.0.7/24' });
    assert.equal(parseReaddressAnswer('error unknown command\n'), undefined);
    assert.equal(guestBitsReaddress(undefined), false);
    assert.equal(guestBitsReaddress(6), false);
    assert.equal(guestBitsReaddress(7), true);
  });
});
