/** Damaging a tar made by makeTar in one way, for fuzz tests of everything that reads tar streams. */
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { makeTar, type TarEntry } from './oci-registry.js';

/** Offsets of each entry's header in a tar made by makeTar (none of them with pax records). */
export function headerOffsets(tar: Buffer): number[] {
  const out: number[] = [];
  for (let off = 0; off + 512 <= tar.length && tar[off] !== 0; ) {
    out.push(off);
    const size = parseInt(tar.subarray(off + 124, off + 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

function fixChecksum(b: Buffer, off: number): void {
  b.fill(0x20, off + 148, off + 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[off + i]!;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, off + 148, 'latin1');
}

/** A tar of the given entries damaged in one way: cut short, a bad checksum, a bogus size or type, or corrupt gzip. */
export const damagedTar = (entries: fc.Arbitrary<TarEntry[]>) => fc.tuple(entries, fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 })).chain(([entries, i, j, x]) =>
  fc.constantFrom('cut', 'checksum', 'size', 'type', 'gzip').map((how) => ({ entries, how, i, j, x })),
);

export async function damage({ entries, how, i, j, x }: { entries: TarEntry[]; how: string; i: number; j: number; x: number }): Promise<Buffer> {
  const tar = Buffer.from(await makeTar(entries));
  const heads = headerOffsets(tar);
  const h = heads[i % heads.length]!;
  const end = tar.length - 1024;
  switch (how) {
    case 'cut': {
      // anywhere before the end-of-archive blocks but on no block boundary: inside a header or a file's data
      const at = 1 + (j % (end - 1));
      return tar.subarray(0, at % 512 === 0 ? at - 1 : at);
    }
    case 'checksum': {
      const k = j % 504;
      tar[h + (k < 148 ? k : k + 8)]! ^= x;
      return tar;
    }
    case 'size': {
      // a file's header (a directory's size is not read)
      const files = heads.filter((o) => tar[o + 156] === 0x30 || tar[o + 156] === 0);
      const f = files[i % files.length]!;
      const sizes = ['zzzzzzzzzzz', '-0000000001', '77777777777', '\x80\0\0\0\0\0\0\x7f\xff\xff\xff\xff'];
      tar.write(sizes[j % sizes.length]!, f + 124, 'latin1');
      fixChecksum(tar, f);
      return tar;
    }
    case 'type': {
      const types = 'ABCEFHIJMOPQRSTUVWYZ89!~34';
      tar[h + 156] = types.charCodeAt(j % types.length);
      fixChecksum(tar, h);
      return tar;
    }
    default: {
      const gz = gzipSync(tar);
      gz[10 + (j % (gz.length - 18))]! ^= x;
      return gz;
    }
  }
}

