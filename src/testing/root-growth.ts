/**
 * Checks, from inside a running guest, that its root filesystem was grown to the size of its disk
 * (the banger-growroot unit). The commands are argv arrays for whatever runs commands in the guest:
 * `banger vm exec NAME -- ...` or the SSH client's exec.
 */

/** Prints the root filesystem's size and free bytes: one header line, then "SIZE AVAIL". */
export const ROOT_DF_COMMAND = ['df', '-B1', '--output=size,avail', '/'] as const;

/** Reserves 1 GiB on the root filesystem and gives it back: fails with "No space left" on an ungrown root. */
export const ROOT_WRITE_1G_COMMAND = ['sh', '-c', 'fallocate -l 1G /banger-growth-check && rm -f /banger-growth-check'] as const;

export interface RootDf {
  sizeBytes: number;
  availBytes: number;
}

/** Parses the output of {@link ROOT_DF_COMMAND}. */
export function parseRootDf(stdout: string): RootDf {
  const last = stdout.trim().split('\n').pop() ?? '';
  const [size, avail] = last.trim().split(/\s+/).map(Number);
  if (!Number.isSafeInteger(size) || !Number.isSafeInteger(avail)) throw new Error(`cannot read df output: ${JSON.stringify(stdout)}`);
  return { sizeBytes: size!, availBytes: avail! };
}

/**
 * Why a root filesystem of this size does not fill a disk of diskBytes, or undefined when it does.
 * ext4 keeps a few per cent for inode tables and the journal, so anything from 90% up counts.
 */
export function rootGrowthProblem(df: RootDf, diskBytes: number): string | undefined {
  const ratio = df.sizeBytes / diskBytes;
  if (ratio >= 0.9 && ratio <= 1) return undefined;
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
  return `the root filesystem is ${gib(df.sizeBytes)} on a ${gib(diskBytes)} disk (${(ratio * 100).toFixed(1)}%): it was not grown to the disk`;
}
