/**
 * `node sha256-main.js FILE`: prints the sha256 of FILE (hex) and exits 0; exits 1 naming the error.
 * Run by sha256FileIdle at idle priority.
 *
 * @module
 */
import { sha256File } from './sha256.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: sha256-main.js FILE\n');
  process.exit(2);
}
sha256File(file).then(
  (sum) => process.stdout.write(`${sum}\n`),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
