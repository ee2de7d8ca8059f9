import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/**
 * CPU time of every thread but the main one, from /proc (Linux). On a CPU adapter these are the
 * driver's (SwiftShader's or lavapipe's) workers, so this is the GPU work's own cost, unlike wall/timestamp time, which
 * also counts waiting for other processes on a shared machine. null elsewhere.
 */
export function workerCpuMs(): number | null {
  if (!existsSync('/proc/self/task')) return null;
  let ns = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    if (Number(tid) === process.pid) continue;
    try { ns += Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]); } catch { /* thread gone */ }
  }
  return ns / 1e6;
}

export const cores = cpus().length;
