import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRootDf, rootGrowthProblem } from './root-growth.js';

const GiB = 2 ** 30;

test('df output is read as size and free bytes', () => {
  assert.deepEqual(parseRootDf('1B-blocks        Avail\n8323002368 7455477760\n'), { sizeBytes: 8323002368, availBytes: 7455477760 });
  assert.throws(() => parseRootDf('df: /: No such file or directory\n'), /cannot read df output/);
});

test('a root that fills at least 90% of its disk counts as grown', () => {
  assert.equal(rootGrowthProblem({ sizeBytes: 7.75 * GiB, availBytes: 7 * GiB }, 8 * GiB), undefined);
  assert.match(rootGrowthProblem({ sizeBytes: 0.8 * GiB, availBytes: 0.3 * GiB }, 8 * GiB) ?? '', /0\.80 GiB on a 8\.00 GiB disk \(10\.0%\): it was not grown/);
  assert.ok(rootGrowthProblem({ sizeBytes: 9 * GiB, availBytes: 0 }, 8 * GiB), 'larger than the disk is wrong too');
});
