// A progress bar for long runs. The harness cannot know its own length exactly (servers start in
// varying time, windows wait for answers), so the bar measures against the last saved run with the
// same settings; without one it shows elapsed time only.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface SavedRun {
  startedAt: string;
  finishedAt: string;
  config: Record<string, unknown>;
}

/** The same settings: what decides how long a run takes. */
const KEYS = ['quick', 'scenarios', 'rounds', 'durationS', 'connections'];

/** Seconds the last run with the same settings took, from bench/results/core-*.json. */
export function expectedSeconds(resultsDir: string, config: Record<string, unknown>): number | undefined {
  let files: string[];
  try {
    files = readdirSync(resultsDir).filter((f) => /^core-.*\.json$/.test(f)).sort().reverse();
  } catch {
    return undefined;
  }
  const same = (run: SavedRun) => KEYS.every((k) => JSON.stringify(run.config?.[k]) === JSON.stringify(config[k]));
  for (const f of files) {
    try {
      const run = JSON.parse(readFileSync(join(resultsDir, f), 'utf8')) as SavedRun;
      if (run.finishedAt && same(run)) return (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000;
    } catch {
      // a file from another format version: skip it
    }
  }
  return undefined;
}

/** `▕█████░░░░░▏ 48% of ~640 s` (capped at 99% until the run ends), or '' when nothing to compare with. */
export function progressBar(elapsedS: number, expectedS: number | undefined, width = 20): string {
  if (expectedS === undefined || expectedS <= 0) return '';
  const share = Math.min(0.99, elapsedS / expectedS);
  const filled = Math.round(share * width);
  return `▕${'█'.repeat(filled)}${'░'.repeat(width - filled)}▏ ${Math.round(share * 100)}% of ~${Math.round(expectedS)} s `;
}
