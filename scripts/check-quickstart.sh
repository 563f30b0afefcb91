#!/usr/bin/env bash
# The README's quick start, done as a new user does it, on one SDK line:
#   bash scripts/check-quickstart.sh <packed tarball> <2|3>
# In a fresh app: the README's own install line for that line (read from the
# README, so it cannot drift from what this checks) and the tarball; the Usage
# snippet pasted, as it is, into tracing.mjs; a CommonJS HTTP app loaded with
# `node --import ./tracing.mjs`; one request answered 500; then SIGTERM.
# Passes when the app exits 0 through the snippet's SIGTERM handler, a
# loopback OTLP receiver got that request's trace on /v1/traces as protobuf,
# marked with its trigger, and npm installed one copy of sdk-trace. Then the
# "With logs" snippet, the same way, with pino (which the README points to):
# passes when the failed request's pino line reached /v1/logs, marked.
# Needs the registry (real auto-instrumentations-node). Run by check:pack
# (SDK 2.x, the Node in PATH) and test:compat (SDK 3.x, Node 24).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tarball=$1
line=$2
fail() { echo "quickstart: FAILED (SDK $line.x): $*" >&2; exit 1; }
test -f "$tarball" || fail "no tarball at $tarball"
work=$(mktemp -d)
receiver_pid=
cleanup() {
  if [ -n "$receiver_pid" ]; then kill "$receiver_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

# The install line under "# SDK <line>.x" in the README's first sh block, and
# the first ts block after "## Usage".
node - "$root/README.md" "$line" <<'EOF'
const fs = require('node:fs');
const [readme, line] = process.argv.slice(2);
const text = fs.readFileSync(readme, 'utf8');
const sh = /```sh\n([\s\S]*?)```/.exec(text);
if (!sh) throw new Error('README: no sh block');
const lines = sh[1].replace(/\\\n/g, ' ').split('\n');
const at = lines.findIndex((l) => l.startsWith(`# SDK ${line}.x`));
const install = lines[at + 1];
if (at < 0 || !install?.startsWith('npm install ')) throw new Error(`README: no install line for SDK ${line}.x`);
fs.writeFileSync('peers.txt', install.slice('npm install '.length).trim().split(/\s+/).join('\n') + '\n');
const usage = text.indexOf('\n## Usage');
const ts = /```ts\n([\s\S]*?)```/.exec(text.slice(usage));
if (usage < 0 || !ts) throw new Error('README: no snippet under ## Usage');
fs.writeFileSync('tracing.mjs', ts[1]);
const withLogs = text.indexOf('\n### With logs');
const logsTs = /```ts\n([\s\S]*?)```/.exec(text.slice(withLogs));
if (withLogs < 0 || !logsTs) throw new Error('README: no snippet under ### With logs');
fs.writeFileSync('logging.mjs', logsTs[1]);
EOF
mapfile -t peers <peers.txt
echo "== quickstart (SDK $line.x, Node $(node --version)): npm install ${peers[*]} <tarball>"
npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error "${peers[@]}" "$tarball" pino >/dev/null
copies=$(find node_modules -path '*/@opentelemetry/sdk-trace/package.json' | wc -l)
test "$copies" -eq 1 || fail "npm installed $copies copies of @opentelemetry/sdk-trace, the README says one"

# The receiver: answers 200 to everything; a line per request in requests.log.
cat >receiver.cjs <<'EOF'
const http = require('node:http');
const fs = require('node:fs');
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const line = {
      path: req.url,
      type: req.headers['content-type'],
      trigger: body.includes('flight_recorder.trigger'),
      service: body.includes('checkout'),
      route: body.includes('/pay'),
      log: body.includes('charging card'),
    };
    fs.appendFileSync('requests.log', JSON.stringify(line) + '\n');
    res.writeHead(200, { 'content-type': req.headers['content-type'] || 'application/json' });
    res.end();
  });
});
server.listen(0, '127.0.0.1', () => fs.writeFileSync('port', String(server.address().port)));
setTimeout(() => process.exit(2), 120_000).unref();
EOF
# The app: one request to itself, answered 500, then SIGTERM as a deploy
# sends it. With `logs`, the request writes a pino line, and as the "With logs"
# snippet has no SIGTERM handler, the app (a service that would keep running)
# waits, at most 20 s, for the receiver to have its trace and its log line,
# then exits.
cat >app.cjs <<'EOF'
const fs = require('node:fs');
const http = require('node:http');
const logs = process.argv[2] === 'logs';
const logger = logs ? require('pino')() : undefined;
const server = http.createServer((req, res) => {
  logger?.info('charging card');
  res.statusCode = 500;
  res.end('payment failed');
});
function waitForReceiver() {
  const deadline = Date.now() + 20_000;
  const poll = setInterval(() => {
    const got = fs.existsSync('requests.log') ? fs.readFileSync('requests.log', 'utf8') : '';
    if ((got.includes('"/v1/logs"') && got.includes('"/v1/traces"')) || Date.now() > deadline) {
      clearInterval(poll);
      process.exit(0);
    }
  }, 100);
}
server.listen(0, '127.0.0.1', () => {
  http.get({ host: '127.0.0.1', port: server.address().port, path: '/pay' }, (res) => {
    res.resume();
    res.on('end', () => {
      server.close();
      if (logs) waitForReceiver();
      else setTimeout(() => process.kill(process.pid, 'SIGTERM'), 200);
    });
  });
});
setTimeout(() => {
  console.error('app: still running after 30 s');
  process.exit(3);
}, 30_000).unref();
EOF
node receiver.cjs &
receiver_pid=$!
for _ in $(seq 100); do test -s port && break; sleep 0.1; done
test -s port || fail "the receiver did not start"
# Runs the app with `snippet` loaded (and its own arguments after), then
# requires the receiver to have got a request, as protobuf, marked and from
# service `checkout`, that `check` (JS, over its line `l`) accepts.
run_app() {
  local snippet=$1 what=$2 check=$3
  shift 3
  rm -f requests.log
  local status=0
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$(cat port)" timeout 60 \
    node --import "./$snippet" app.cjs "$@" >app.out || status=$?
  test "$status" -eq 0 || fail "$what: the app exited $status, not 0"
  test -f requests.log || fail "$what: the receiver got nothing"
  CHECK=$check node -e "
    const lines = require('node:fs').readFileSync('requests.log', 'utf8').trim().split('\\n').map(JSON.parse);
    const check = new Function('l', 'return ' + process.env.CHECK);
    const ok = lines.some((l) => l.type === 'application/x-protobuf' && l.trigger && l.service && check(l));
    process.exit(ok ? 0 : 1);
  " || fail "$what: no marked request with $check: $(cat requests.log)"
}
# Exits 0 through the snippet's SIGTERM handler.
run_app tracing.mjs "Usage" "l.path === '/v1/traces' && l.route"
run_app logging.mjs "With logs" "l.path === '/v1/logs' && l.log" logs
grep -q 'charging card' app.out || fail "with logs: pino did not write its own line to stdout"
echo "quickstart: SDK $line.x: the README's install line and snippets export the failed request's trace, and its pino line"
