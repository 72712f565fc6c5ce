import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BangerError } from './errors.js';
import { parseSize } from '../model/size.js';
import { optSize } from './parse.js';
import {
  parseBuildImageRequest,
  parseCreateVMRequest,
  parseForwardRequest,
  parseImportKernelRequest,
  parseKillVMRequest,
  parseNoBody,
  parseRegisterImageRequest,
  parseSetVMRequest,
  parseStopVMRequest,
} from './requests.js';

/** Asserts fn throws bad_request whose message matches re; returns the error for more checks. */
function refuses(fn: () => unknown, re: RegExp): BangerError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BangerError, String(err));
    assert.equal(err.code, 'bad_request');
    assert.match(err.message, re);
    return err;
  }
  assert.fail(`expected a bad_request matching ${re}`);
}

describe('request parsers', () => {
  it('parses a full create request and keeps only defined fields', () => {
    const body = { name: 'dev', image: 'debian-bookworm', vcpu: 2, memoryMiB: 2048, diskSize: '16G', rootSize: '8G', nat: true, noStart: false };
    assert.deepEqual(parseCreateVMRequest(body), body);
    assert.deepEqual(parseCreateVMRequest({ name: 'x', vcpu: null }), { name: 'x' }, 'null counts as absent');
    assert.deepEqual(parseCreateVMRequest(undefined), {}, 'an absent body is an empty request');
  });

  it('names the field of every invalid create value', () => {
    refuses(() => parseCreateVMRequest({ name: 7 }), /^name must be a string/);
    refuses(() => parseCreateVMRequest({ image: false }), /^image must be a string/);
    refuses(() => parseCreateVMRequest({ vcpu: 1.5 }), /^vcpu must be a whole number/);
    refuses(() => parseCreateVMRequest({ memoryMiB: '2G' }), /^memoryMiB must be a whole number/);
    refuses(() => parseCreateVMRequest({ diskSize: 'huge' }), /^diskSize must be a size such as "8G", got "huge"/);
    refuses(() => parseCreateVMRequest({ rootSize: 'nope' }), /^rootSize must be a size such as "8G", got "nope"/);
    refuses(() => parseCreateVMRequest({ rootSize: 8 }), /^rootSize must be a string/);
    refuses(() => parseCreateVMRequest({ nat: 'yes' }), /^nat must be true or false/);
    refuses(() => parseCreateVMRequest({ noStart: 1 }), /^noStart must be true or false/);
    refuses(() => parseCreateVMRequest({ ports: '8080:80' }), /^ports must be a list of strings/);
    refuses(() => parseCreateVMRequest({ ports: ['8080:x'] }), /^invalid port "8080:x"/);
  });

  it('parses forward requests: specs to add, host ports to remove, and refuses an empty or malformed one', () => {
    assert.deepEqual(parseForwardRequest({ add: ['8080:80', '3000'], remove: [9000] }), { add: ['8080:80', '3000'], remove: [9000] });
    refuses(() => parseForwardRequest({}), /^nothing to publish or remove/);
    refuses(() => parseForwardRequest({ add: ['80:0'] }), /^invalid port "80:0"/);
    refuses(() => parseForwardRequest({ add: ['80', '80'] }), /^host port 80 is given twice/);
    refuses(() => parseForwardRequest({ remove: [70000] }), /^remove must be a list of host ports/);
    refuses(() => parseForwardRequest({ add: ['80'], publish: true }), /^unknown field "publish"/);
  });

  it('refuses unknown fields, naming them and the known ones', () => {
    const e = refuses(() => parseCreateVMRequest({ name: 'x', rootsize: '8G' }), /^unknown field "rootsize" in the create VM request$/);
    assert.match(e.hint ?? '', /known fields: name, image, vcpu, memoryMiB, diskSize, rootSize, nat, ports, allow, network, noStart, fromSnapshot, cold/);
    assert.match(e.hint ?? '', /versions may differ/);
    refuses(() => parseStopVMRequest({ timeout: 5, force: true }), /^unknown fields "timeout", "force" in the stop VM request$/);
    const none = refuses(() => parseNoBody({ anything: 1 }), /^unknown field "anything"/);
    assert.match(none.hint ?? '', /takes no body/);
    assert.equal(parseNoBody(undefined), undefined);
    assert.equal(parseNoBody({}), undefined);
  });

  it('refuses bodies that are not JSON objects', () => {
    refuses(() => parseCreateVMRequest([1, 2]), /request body must be a JSON object/);
    refuses(() => parseCreateVMRequest('dev'), /request body must be a JSON object/);
  });

  it('needs something to change in a set request', () => {
    assert.deepEqual(parseSetVMRequest({ vcpu: 4, nat: false }), { vcpu: 4, nat: false });
    refuses(() => parseSetVMRequest({}), /^nothing to change$/);
    refuses(() => parseSetVMRequest({ diskSize: '4X' }), /^diskSize must be a size/);
  });

  it('bounds the stop timeout', () => {
    assert.deepEqual(parseStopVMRequest({ timeoutSeconds: 30 }), { timeoutSeconds: 30 });
    assert.deepEqual(parseStopVMRequest(undefined), {});
    refuses(() => parseStopVMRequest({ timeoutSeconds: 0 }), /^timeoutSeconds must be a whole number from 1 to 3600$/);
  });

  it('normalises signal names and refuses unknown ones', () => {
    assert.deepEqual(parseKillVMRequest({ signal: 'term' }), { signal: 'SIGTERM' });
    assert.deepEqual(parseKillVMRequest({ signal: 'SIGKILL' }), { signal: 'SIGKILL' });
    assert.deepEqual(parseKillVMRequest({}), {});
    const e = refuses(() => parseKillVMRequest({ signal: 'SIGWINCH' }), /^signal: unsupported signal "SIGWINCH"$/);
    assert.match(e.hint ?? '', /SIGKILL, SIGTERM/);
  });

  it('checks image and kernel requests', () => {
    assert.deepEqual(parseBuildImageRequest({ recipe: 'debian-bookworm' }), { recipe: 'debian-bookworm' });
    assert.deepEqual(parseRegisterImageRequest({ name: 'm', rootfs: '/r.ext4', kernelRef: 'k' }), { name: 'm', rootfs: '/r.ext4', kernelRef: 'k' });
    refuses(() => parseRegisterImageRequest({ rootfs: '/r.ext4' }), /^name is required$/);
    refuses(() => parseRegisterImageRequest({ name: 'm' }), /^rootfs is required$/);
    assert.deepEqual(parseImportKernelRequest({ name: 'k', deb: 'linux-image-amd64' }), { name: 'k', deb: 'linux-image-amd64' });
    refuses(() => parseImportKernelRequest({ name: 'k' }), /^nothing to import: kernel or deb is required$/);
    refuses(() => parseImportKernelRequest({ name: 'k', deb: 'x.deb', kernel: '/k' }), /^deb: give either deb or kernel/);
    refuses(() => parseImportKernelRequest({ kernel: '/k' }), /^name is required$/);
  });

  it('accepts exactly the sizes the size parser accepts', () => {
    const inputs = ['8G', '8g', '8GiB', '8GB', '512M', '512 MiB', '1.5G', '4096', ' 2T ', '10B', '1K', '4X', 'huge', '', 'G', '-1G', '1e3M', '8 G B', '0x10M', '1..5G', '8Gi'];
    for (const v of inputs) {
      let parserOk = true;
      try {
        parseSize(v);
      } catch {
        parserOk = false;
      }
      let apiOk = true;
      try {
        optSize({ size: v }, 'size');
      } catch {
        apiOk = false;
      }
      assert.equal(apiOk, parserOk, `the API and the service disagree on ${JSON.stringify(v)}`);
    }
  });
});
