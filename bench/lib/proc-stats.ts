// Server-side cost of a measured window, read from /proc for the server's
// process (every thread of it: Volley's workers and ORT's pools included).
// utime + stime are in clock ticks (getconf CLK_TCK, 100 on Linux), so one
// window's CPU is only precise to ~10 ms: fine for windows of seconds.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

export interface ProcSample {
  /** performance.now() when read, ms. */
  at: number;
  /** utime + stime of the whole process, seconds. */
  cpuS: number;
  /** VmRSS, bytes. */
  rssBytes: number;
}

/** One sample of a process's CPU time and RSS; undefined where /proc is not there (not Linux) or the process is gone. */
export function sampleProc(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
    return { at: performance.now(), cpuS: ticks / clockTicks(), rssBytes: kb * 1024 };
  } catch {
    return undefined;
  }
}

/** What the server spent over a window, per 2xx answer. */
export interface ProcCost {
  /** Server CPU per successful request, µs (all its threads). */
  cpuUsPerRequest: number;
  /** Average cores busy in the server over the window. */
  cores: number;
  rssBeforeMB: number;
  rssAfterMB: number;
}

export function procCost(before: ProcSample | undefined, after: ProcSample | undefined, requests: number): ProcCost | undefined {
  if (!before || !after) return undefined;
  const cpu = after.cpuS - before.cpuS;
  const wall = (after.at - before.at) / 1000;
  return {
    cpuUsPerRequest: requests > 0 ? (cpu * 1e6) / requests : NaN,
    cores: wall > 0 ? cpu / wall : NaN,
    rssBeforeMB: before.rssBytes / 2 ** 20,
    rssAfterMB: after.rssBytes / 2 ** 20,
  };
}
