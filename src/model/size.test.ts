import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatSize, humanSize, parseSize } from './size.js';
import { BangerError } from '../api/errors.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

describe('sizes', () => {
  it('parses units and bare MiB', () => {
    const cases: [string | number, number][] = [
      ['4G', 4 * GiB], ['4GiB', 4 * GiB], ['4gb', 4 * GiB], ['512MiB', 512 * MiB], ['512M', 512 * MiB],
      ['1024', 1024 * MiB], [1024, 1024 * MiB], ['4KiB', 4096], ['1T', 1024 * GiB], ['1.5G', 1.5 * GiB], [' 8G ', 8 * GiB], ['100B', 100],
    ];
    for (const [input, want] of cases) assert.equal(parseSize(input), want, String(input));
  });
  it('rejects nonsense with bad_request and a hint', () => {
    for (const bad of ['', 'G', '4X', '-1G', '0', '4 G B', 'abc', 0, -5, 1.5]) {
      assert.throws(() => parseSize(bad), (e: unknown) => e instanceof BangerError && e.code === 'bad_request' && /512M/.test(e.hint ?? ''), String(bad));
    }
  });
  it('round-trips through formatSize', () => {
    for (const n of [GiB, 8 * GiB, 512 * MiB, 1536 * MiB, 4096, 1024 * GiB, 100]) assert.equal(parseSize(formatSize(n)), n);
    assert.equal(formatSize(8 * GiB), '8G');
    assert.equal(formatSize(1536 * MiB), '1536M');
  });
  it('prints human sizes', () => {
    assert.equal(humanSize(1.5 * GiB), '1.5G');
    assert.equal(humanSize(300 * MiB), '300M');
    assert.equal(humanSize(12), '12B');
  });
});
