// The extension's pure functions (compiled by tsconfig.test.json into lib-test/),
// run with node's own test runner: `node --test test/`.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');

const { parseListing, parseRow, sortRows, cellText, originText, badgeTitle } = require('../lib-test/listing');
const { verdictOf, verdictOfReport, invalidMessage, plainError, reportFirstError } = require('../lib-test/verdict');
const { text, humanBytes } = require('../lib-test/values');
const { newestFirst, checkpointLabel } = require('../lib-test/checkpointlist');

const row = (name, extra = {}) => ({
  name, bytes: 10, nbformat: '4.5', kernel: 'python3', language: 'python', title: name,
  cells: { code: 1, markdown: 1, raw: 0, other: 0 }, outputs: { count: 0, bytes: 0, images: 0 },
  valid: true, ...extra
});

test('a listing keeps its rows, next marker and origin', () => {
  const listing = parseListing('dir', {
    notebooks: [row('a.ipynb'), row('b.ipynb', { valid: false, first_error: 'cells[0]: cells[0] must x' })],
    next: 'b.ipynb', computed_by: 'storlet'
  });
  assert.deepEqual(listing.rows.map(r => [r.path, r.valid, r.cells, r.problem]),
    [['dir/a.ipynb', 'true', 2, ''], ['dir/b.ipynb', 'false', 2, 'cells[0] must x']]);
  assert.equal(listing.next, 'b.ipynb');
  assert.equal(originText(listing), 'computed by the storlet');
  const fallback = parseListing('', { notebooks: [], next: null, computed_by: 'server', fallback_reason: 'storlets off' });
  assert.equal(originText(fallback), 'computed by the server (fallback: storlets off)');
  assert.equal(fallback.next, null);
});

test('hostile rows are dropped or defused, never thrown on', () => {
  const rows = [null, 5, 'x', {}, { name: '../up.ipynb' }, { name: 'a/b.ipynb' }, { name: '..' },
    { name: '<img src=x onerror=alert(1)>.ipynb', title: { html: 1 }, cells: 'many',
      outputs: { bytes: -5, images: 'NaN' }, valid: 'yes', kernel: 'k'.repeat(5000) }];
  const listing = parseListing('', { notebooks: rows });
  assert.equal(listing.rows.length, 1);
  const r = listing.rows[0];
  assert.equal(r.name, '<img src=x onerror=alert(1)>.ipynb'); // shown as text, never markup
  assert.equal(r.title, '');
  assert.equal(r.cells, null);
  assert.equal(r.outputBytes, null);
  assert.equal(r.valid, 'unknown');
  assert.ok(r.kernel.length <= 100);
  assert.equal(listing.computedBy, 'server'); // no claim of the storlet without its word
  assert.throws(() => parseListing('', { rows: [] }), /notebooks/);
});

test('error rows: unreadable notebooks are invalid, too large ones unknown', () => {
  assert.equal(parseRow('', { name: 'x.ipynb', error: 'invalid_json', detail: 'line 1' }).valid, 'false');
  const big = parseRow('', { name: 'y.ipynb', error: 'too_large', detail: 'over 64 MB' });
  assert.equal(big.valid, 'unknown');
  assert.equal(badgeTitle(big), 'over 64 MB');
  assert.equal(badgeTitle(parseRow('', row('z.ipynb', { valid: false }))), 'Not valid against the nbformat schema');
});

test('sorting: both directions, missing values last, ties by name', () => {
  const rows = parseListing('', { notebooks: [
    row('b.ipynb', { outputs: { bytes: 300 } }), row('a.ipynb', { outputs: { bytes: 300 } }),
    row('c.ipynb', { outputs: { bytes: 2048 } }), { name: 'd.ipynb', error: 'too_large' }
  ] }).rows;
  const names = rs => rs.map(r => r.name);
  assert.deepEqual(names(sortRows(rows, 'output_size', true)), ['a.ipynb', 'b.ipynb', 'c.ipynb', 'd.ipynb']);
  assert.deepEqual(names(sortRows(rows, 'output_size', false)), ['c.ipynb', 'a.ipynb', 'b.ipynb', 'd.ipynb']);
  assert.deepEqual(names(sortRows(rows, 'valid', true)), ['d.ipynb', 'a.ipynb', 'b.ipynb', 'c.ipynb']);
  assert.equal(cellText(rows[2], 'output_size'), '2.0 KB');
  const versions = parseListing('', { notebooks: [row('x', { nbformat: '4.10' }), row('y', { nbformat: '4.5' })] }).rows;
  assert.deepEqual(names(sortRows(versions, 'nbformat', true)), ['y', 'x']);
});

test('verdicts: stamp, report, none', () => {
  assert.equal(verdictOf({}).state, 'unknown');
  assert.equal(verdictOf({ swift_validation: { valid: true, nbformat: '4.5' } }).state, 'true');
  const bad = verdictOf({ swift_validation: { valid: false, first_error: "cells[0]: cells[0] must not contain {'bogus'} properties",
    error_count: 3, truncated: true, validated_by: 'server' } });
  assert.equal(bad.state, 'false');
  assert.equal(bad.firstError, "cells[0] must not contain {'bogus'} properties");
  assert.match(bad.title, /^cells\[0\] must not .*\(3\+ errors, validated by the server\)$/);
  assert.equal(verdictOf({ swift_validation: { valid: null, error: 'not_a_notebook' } }).title, 'Not validated: not_a_notebook');
  const report = { valid: false, errors: [{ path: 'cells[0]', message: "cells[0] must contain ['outputs'] properties" }], computed_by: 'storlet' };
  assert.equal(reportFirstError(report), "cells[0] must contain ['outputs'] properties");
  assert.equal(verdictOfReport(report).state, 'false');
  assert.equal(verdictOfReport({ valid: true, nbformat: 4, nbformat_minor: 5 }).title, 'Valid nbformat 4.5 notebook (validated by the storlet)');
  assert.equal(plainError('metadata: kernelspec missing'), 'metadata: kernelspec missing');
});

test('the warning fits JupyterLab\'s 140 characters and keeps its phrase', () => {
  const verdict = verdictOf({ swift_validation: { valid: false, first_error: 'e'.repeat(300) } });
  const message = invalidMessage('dir/' + 'n'.repeat(200) + '.ipynb', verdict);
  assert.ok(message.length <= 140);
  assert.match(message, /is not a valid notebook: e+…$/);
});

test('checkpoints: newest first, odd entries dropped, labelled', () => {
  const list = newestFirst([{ id: 'old', last_modified: '2026-01-01T00:00:00Z' }, { id: 'a:b' }, 7,
    { id: '' }, { id: 'new', last_modified: 'not a date' }]);
  assert.deepEqual(list.map(c => c.id), ['new', 'old']);
  assert.equal(checkpointLabel(list[0], true), 'not a date (new), newest');
  assert.throws(() => newestFirst({ id: 'x' }), /no list/);
});

test('text and sizes', () => {
  assert.equal(text(5), '');
  assert.equal(text('abcdef', 4), 'abc…');
  assert.equal(humanBytes(null), '');
  assert.equal(humanBytes(1023), '1023 B');
  assert.equal(humanBytes(1536), '1.5 KB');
});
