import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './load.js';
import { parseDuration } from './duration.js';
import { scratchDir } from '../testing/scratch-dir.js';

function withFile(text: string): string {
  const dir = scratchDir('banger-cfg-');
  const f = join(dir, 'config.toml');
  writeFileSync(f, text);
  return f;
}

describe('config', () => {
  it('uses defaults when the file is absent and says so', () => {
    const l = loadConfig('/nonexistent/banger/config.toml', {});
    assert.equal(l.file, undefined);
    assert.equal(l.config.log_level, 'info');
    assert.equal(l.config.default_image_name, 'debian-bookworm');
    assert.equal(l.sources.log_level, 'default');
  });
  it('reads every kind of key and records sources', () => {
    const f = withFile(`log_level = "debug"\ncidr = 20\njailer_enabled = false\n[vm_defaults]\nvcpu = 2\nmemory_mib = 1024\ndisk_size = "4G"\n[[file_sync]]\nhost = "~/.aws"\nguest = "~/.aws"\n[[file_sync]]\nhost = "/etc/x"\nguest = "/root/x"\nmode = "0644"\n`);
    const l = loadConfig(f, { BANGER_LOG_LEVEL: 'warn' });
    assert.equal(l.config.log_level, 'warn');
    assert.equal(l.sources.log_level, 'env');
    assert.equal(l.config.cidr, 20);
    assert.equal(l.sources.cidr, 'file');
    assert.equal(l.config.jailer_enabled, false);
    assert.deepEqual(l.config.vm_defaults, { vcpu: 2, memory_mib: 1024, disk_size: '4G' });
    assert.equal(l.config.file_sync.length, 2);
    assert.equal(l.config.file_sync[1]!.mode, '0644');
  });
  const bad: [string, RegExp][] = [
    ['log_level = "loud"', /config\.toml: log_level: expected one of "debug", "info", "warn", "error", got "loud"/],
    ['cidr = "24"', /cidr: expected a whole number from 8 to 30, got "24"/],
    ['nope = 1', /nope: unknown key/],
    ['[vm_defaults]\nvcpu = 0', /vm_defaults\.vcpu: expected a whole number/],
    ['[vm_defaults]\ndisk_size = "big"', /vm_defaults\.disk_size: expected a size/],
    ['[[file_sync]]\nhost = "rel/path"\nguest = "~/x"', /file_sync\[0\]\.host: expected an absolute host path/],
    ['[[file_sync]]\nhost = "~/x"\nguest = "/etc/x"', /file_sync\[0\]\.guest: expected a guest path under/],
    ['[[file_sync]]\nhost = "~/x"', /file_sync\[0\]\.guest: missing/],
    ['[[file_sync]]\nhost = "~/x"\nguest = "~/x"\n[[file_sync]]\nhost = "~/y"\nguest = "/root/../etc/y"', /file_sync\[1\]\.guest: expected a guest path under/],
    ['[[file_sync]]\nhost = "~/../x"\nguest = "~/x"', /file_sync\[0\]\.host: expected an absolute host path/],
    ['[[file_sync]]\nhost = "~/x"\nguest = "/root/"', /file_sync\[0\]\.guest: expected a guest path under/],
    ['[[file_sync]]\nhost = "~/x"\nguest = "~/x"\nmode = "rwx"', /file_sync\[0\]\.mode: expected an octal mode/],
    ['auto_stop_stale_after = "soon"', /auto_stop_stale_after: expected a duration/],
    ['log_level = ', /\(syntax\): not valid TOML/],
  ];
  for (const [text, re] of bad) {
    it(`rejects ${JSON.stringify(text)} naming file and key`, () => {
      const f = withFile(text);
      assert.throws(() => loadConfig(f, {}), (e: unknown) => e instanceof ConfigError && re.test(e.message) && e.message.startsWith(f) && Boolean(e.hint));
    });
  }
  it('rejects a bad environment override naming the variable', () => {
    assert.throws(() => loadConfig('/nonexistent', { BANGER_LOG_LEVEL: 'chatty' }), /\$BANGER_LOG_LEVEL: log_level/);
  });
  it('parses durations', () => {
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('5 minutes'), undefined);
    assert.equal(parseDuration(''), undefined);
  });
});
