// Command-line conventions of `parley` and `parley-load`: --help (and -h for
// parley-load) prints the usage on stdout and exits 0; a wrong command line
// (unknown flag, subcommand or scenario, a bad or missing value) exits 2 with
// one line on stderr saying what was wrong, and starts nothing.
// parley-load is the binary next to PARLEY_BIN (both are built into the same
// directory).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PARLEY_BIN } from './lib/server.mjs';

const LOAD_BIN = path.join(path.dirname(PARLEY_BIN), 'parley-load');

function run(bin, args) {
  // A bounded wait: a command that started a server instead of exiting fails here.
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new Error(`${path.basename(bin)} ${args.join(' ')}: ${r.error.message}`);
  return r;
}

function show(bin, args, r) {
  return `${path.basename(bin)} ${args.join(' ')} → status ${r.status} signal ${r.signal}\n` +
    `--- stdout ---\n${r.stdout.slice(0, 2000)}\n--- stderr ---\n${r.stderr.slice(0, 2000)}`;
}

function expectHelp(bin, args, mustMention) {
  const r = run(bin, args);
  assert.equal(r.status, 0, show(bin, args, r));
  for (const word of mustMention) assert.ok(r.stdout.includes(word), `usage lacks "${word}": ${show(bin, args, r)}`);
  return r;
}

// Exit 2, exactly one line on stderr, mentioning `what` (the offending word).
function expectUsageError(bin, args, what) {
  const r = run(bin, args);
  assert.equal(r.status, 2, show(bin, args, r));
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `want one line on stderr: ${show(bin, args, r)}`);
  if (what) assert.ok(lines[0].includes(what), `the line does not name "${what}": ${show(bin, args, r)}`);
  assert.equal(r.stdout, '', `nothing on stdout: ${show(bin, args, r)}`);
  return lines[0];
}

// The subcommands `parley --help` lists (CLI11's "Subcommands:" section).
function subcommands(help) {
  const section = help.split(/^Subcommands:$/m)[1] || '';
  return [...section.matchAll(/^ {2}([a-z][a-z0-9-]*)\s/gm)].map((m) => m[1]);
}

test('parley --help and every subcommand\'s --help print the usage and exit 0', () => {
  const top = expectHelp(PARLEY_BIN, ['--help'], ['serve', 'fill', 'status']);
  expectHelp(PARLEY_BIN, ['-h'], ['serve']);
  const subs = subcommands(top.stdout);
  for (const name of ['serve', 'fill', 'status']) assert.ok(subs.includes(name), `${name} not in ${subs}`);
  for (const name of subs) {
    expectHelp(PARLEY_BIN, [name, '--help'], ['Usage:', name]);
    expectHelp(PARLEY_BIN, [name, '-h'], ['Usage:']);
    expectUsageError(PARLEY_BIN, [name, '--no-such-flag'], '--no-such-flag');
  }
  expectHelp(PARLEY_BIN, ['serve', '--help'], ['--listen', '--data', '--threads']);
  expectHelp(PARLEY_BIN, ['fill', '--help'], ['--channel', '--author']);
  expectHelp(PARLEY_BIN, ['status', '--help'], ['--url', '--token']);
});

test('a wrong parley command line exits 2 with one line', () => {
  expectUsageError(PARLEY_BIN, [], 'subcommand');
  expectUsageError(PARLEY_BIN, ['--bogus'], '--bogus');
  expectUsageError(PARLEY_BIN, ['nosuchcommand'], 'nosuchcommand');
  expectUsageError(PARLEY_BIN, ['serve', '--bogus'], '--bogus');
  expectUsageError(PARLEY_BIN, ['serve', '--threads', 'many'], '--threads');
  expectUsageError(PARLEY_BIN, ['serve', '--log-level', 'loud'], 'loud');
  expectUsageError(PARLEY_BIN, ['serve', '--listen'], '--listen');
  expectUsageError(PARLEY_BIN, ['fill', '--bogus'], '--bogus');
  expectUsageError(PARLEY_BIN, ['fill'], '--channel'); // required options missing
  expectUsageError(PARLEY_BIN, ['status', '--bogus'], '--bogus');
  expectUsageError(PARLEY_BIN, ['status', '--url', 'ftp://x'], '--url');
});

test('parley-load --help and -h print the usage on stdout and exit 0', () => {
  assert.ok(fs.existsSync(LOAD_BIN), `parley-load not found next to parley: ${LOAD_BIN}`);
  for (const args of [['--help'], ['-h'], ['idle', '--help'], ['fanout', '-h']]) {
    const r = expectHelp(LOAD_BIN, args, ['usage: parley-load', 'idle', 'fanout', 'storm', 'writes', 'history']);
    assert.equal(r.stderr, '', `nothing on stderr: ${show(LOAD_BIN, args, r)}`);
  }
});

test('a wrong parley-load command line exits 2 with one line', () => {
  expectUsageError(LOAD_BIN, ['--bogus'], '--bogus');
  expectUsageError(LOAD_BIN, ['nosuchscenario'], 'nosuchscenario');
  expectUsageError(LOAD_BIN, ['idle', '--bogus'], '--bogus');
  expectUsageError(LOAD_BIN, ['idle', '--sessions'], '--sessions');
  expectUsageError(LOAD_BIN, ['idle', '--sessions', 'ten', '--url', 'http://127.0.0.1:1'], '--sessions');
  expectUsageError(LOAD_BIN, ['idle', '--sessions', '10'], '--url');
  expectUsageError(LOAD_BIN, ['fanout', '--protocol', 'carrier-pigeon'], 'carrier-pigeon');
  // No arguments at all: the usage (on stderr), exit 2.
  const r = run(LOAD_BIN, []);
  assert.equal(r.status, 2, show(LOAD_BIN, [], r));
  assert.match(r.stderr, /usage: parley-load/);
});
