// A throw-away redis-server for the cluster tests: 127.0.0.1, no
// persistence. startRedis(port?) resolves {port, proc} once it answers PING;
// killRedis(proc) is kill -9 and waits. stopAllRedis() kills every one
// started (for after() hooks).
import { spawn, execFileSync } from 'node:child_process';
import { freePort, sleep } from './server.mjs';

const started = [];

export async function startRedis(port) {
  port ??= await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  started.push(proc);
  for (let i = 0; i < 200; i++) {
    try {
      execFileSync('redis-cli', ['-p', String(port), 'PING'], { stdio: 'ignore' });
      return { port, proc };
    } catch {
      await sleep(25);
    }
  }
  throw new Error('redis-server did not start');
}

export async function killRedis(proc) {
  if (proc.exitCode === null && proc.signalCode === null) {
    const gone = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await gone;
  }
}

export function stopAllRedis() {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}
