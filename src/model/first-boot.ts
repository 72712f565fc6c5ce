/** The first-boot installer an image carries (it lacks openssh-server): what it runs and the mirror hosts it needs. */
export interface FirstBootPlan {
  manager: string;
  packages: string[];
  commands: string[][];
  hosts: string[];
}

const isWords = (v: unknown): v is string[] => Array.isArray(v) && v.every((w) => typeof w === 'string');

export function isFirstBootPlan(v: unknown): v is FirstBootPlan {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const f = v as Record<string, unknown>;
  return typeof f.manager === 'string' && isWords(f.packages) && isWords(f.hosts) && Array.isArray(f.commands) && f.commands.every(isWords);
}
