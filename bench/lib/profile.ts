import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Area {
  area: string;
  selfMs: number;
  selfPercent: number;
}

/** Which package or part of the runtime a frame belongs to. */
function areaOf(url: string, name: string): string {
  if (name === '(garbage collector)') return 'garbage collector';
  if (name === '(program)') return 'V8 (program)';
  if (!url) return `native: ${name}`;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  if (url.includes('/src/')) return 'Parley src/';
  if (url.startsWith('node:')) return `node: ${url.slice(5).split('/').slice(0, 2).join('/')}`;
  return url;
}

export interface HotFunction {
  name: string;
  where: string;
  selfMs: number;
  selfPercent: number;
}

/**
 * The main thread's .cpuprofile in a folder: --cpu-prof writes one file per
 * thread (tsx's module loader runs in a worker), so pick the busiest one.
 */
export function newestProfile(dir: string): string | undefined {
  if (!fs.existsSync(dir)) return undefined;
  const files = fs
    .readdirSync(dir)
    .filter((file) => file.endsWith('.cpuprofile'))
    .map((file) => path.join(dir, file));
  let best: { file: string; busy: number } | undefined;
  for (const file of files) {
    const busy = topSelfTime(file, 0).totalMs;
    if (!best || busy > best.busy) best = { file, busy };
  }
  return best?.file;
}

/** Shortens a file URL to something readable: the package or the repository path. */
function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  return url.replace(/^file:\/\//, '') || '(native)';
}

/** Top functions by self time (time spent in the function itself, not its callees), idle time left out. */
export function topSelfTime(file: string, limit = 20): { totalMs: number; top: HotFunction[]; areas: Area[] } {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byNode = new Map<number, ProfileNode>(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, { name: string; where: string; us: number }>();
  const areas = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((nodeId, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    total += delta;
    const node = byNode.get(nodeId);
    if (!node || node.callFrame.functionName === '(idle)') {
      total -= delta;
      return;
    }
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const area = areaOf(url, name);
    areas.set(area, (areas.get(area) ?? 0) + delta);
    const entry = self.get(key) ?? { name, where, us: 0 };
    entry.us += delta;
    self.set(key, entry);
  });
  const top = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, limit)
    .map((entry) => ({ name: entry.name, where: entry.where, selfMs: entry.us / 1000, selfPercent: (100 * entry.us) / total }));
  const byArea = [...areas.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([area, us]) => ({ area, selfMs: us / 1000, selfPercent: (100 * us) / total }));
  return { totalMs: total / 1000, top, areas: byArea };
}
