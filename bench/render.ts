/**
 * Re-renders docs/benchmarks.md and the charts from a saved run, without
 * running anything: `node --import tsx bench/render.ts [bench/results/latest.json] [docs/benchmarks.md]`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeReport } from './lib/report.ts';
import { resultsFromJson } from './lib/results.ts';

const input = process.argv[2] ?? 'bench/results/latest.json';
const output = path.resolve(process.argv[3] ?? 'docs/benchmarks.md');
writeReport(resultsFromJson(fs.readFileSync(input, 'utf8')), output, path.dirname(output));
console.log(`rendered ${output} from ${input}`);
