/** Version numbers as printed by host tools. */

export type Version = [number, number, number];

/** The first `X.Y[.Z]` in `text` (after `after`, when given). */
export function parseVersion(text: string, after?: RegExp): Version | undefined {
  let t = text;
  if (after) {
    const m = after.exec(text);
    if (!m) return undefined;
    t = text.slice(m.index + m[0].length);
  }
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(t);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

export function compareVersions(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

export function formatVersion(v: Version): string {
  return v.join('.');
}
