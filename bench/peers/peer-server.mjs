// What the Node.js peers (ws-broadcast.mjs, socketio-room.mjs) share: their
// command line (`--port P [--host 127.0.0.1]`) and a clean stop on SIGTERM /
// SIGINT (close every client, exit 0, at most 2 s).

// Returns { host, port }; prints usage and exits 2 on a bad command line.
export function parseListenArgs(name) {
  const usage = (msg) => {
    if (msg) process.stderr.write(`${name}: ${msg}\n`);
    process.stderr.write(`usage: node bench/peers/${name}.mjs --port P [--host 127.0.0.1]\n`);
    process.exit(2);
  };
  let host = '127.0.0.1';
  let port = null;
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === '--port') port = Number(v());
    else if (a === '--host') host = v();
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown option ${a}`);
  }
  if (port === null || !Number.isInteger(port) || port < 0 || port > 65535) usage('--port P is required');
  return { host, port };
}

// On SIGTERM / SIGINT: logs the number of clients, runs close(done), exits
// 0 when it calls done (or after 2 s).
export function stopOnSignals(name, clientCount, close) {
  let stopping = false;
  const stop = (sig) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${name}: ${sig}: closing ${clientCount()} clients\n`);
    close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
