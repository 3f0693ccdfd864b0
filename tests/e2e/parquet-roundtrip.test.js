// Round trip of the Parquet writer through three independent readers. tests/tools/pq_gen
// writes one file per edge case with a JSON file of the values it wrote; each file is
// read back with DuckDB, arrow-rs (parquet-wasm, through Arrow IPC into apache-arrow)
// and hyparquet, and compared value for value, along with the types, annotations,
// encodings and statistics the readers report.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { DuckDBInstance } from '@duckdb/node-api';
import { readParquet } from 'parquet-wasm';
import { tableFromIPC } from 'apache-arrow';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const taBin = process.env.TA_BIN || path.join(repo, 'build', 'teams-attendance');
const genBin = process.env.PQ_GEN || path.join(path.dirname(taBin), 'pq_gen');

const CASES = [
  'empty', 'all_null', 'one_row', 'big_strings', 'unicode', 'timestamps', 'booleans',
  'extremes', 'many_none', 'many_snappy', 'many_zstd', 'rg_bytes', 'int96',
];

let dir;
let duck;
const truth = {};

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pq-roundtrip-'));
  execFileSync(genBin, [dir], { stdio: 'inherit' });
  for (const name of CASES) {
    truth[name] = JSON.parse(fs.readFileSync(path.join(dir, `${name}.json`), 'utf8'));
  }
  const inst = await DuckDBInstance.create(':memory:');
  duck = await inst.connect();
});

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const file = (name) => path.join(dir, `${name}.parquet`);

// Ground truth in one comparable form: int64 and timestamps as decimal strings
// (microseconds), int32 as numbers, booleans, strings, null.
function expectedRows(t) {
  return t.rows;
}

function norm(col, v, int96Nanos = false) {
  if (v === null || v === undefined) return null;
  switch (col.type) {
    case 'int64':
      return BigInt(v).toString();
    case 'timestamp': {
      let b = BigInt(v);
      if (int96Nanos) {
        assert.equal(b % 1000n, 0n, `${col.name}: INT96 nanoseconds ${b} are not whole microseconds`);
        b /= 1000n;
      }
      return b.toString();
    }
    case 'int32':
      return Number(v);
    case 'boolean':
      assert.equal(typeof v, 'boolean', `${col.name}: ${v} is not a boolean`);
      return v;
    case 'string':
      assert.equal(typeof v, 'string', `${col.name}: ${typeof v} is not a string`);
      return v;
    default:
      throw new Error(`unknown type ${col.type}`);
  }
}

// Compares column by column so that a failure names the column and row, without
// printing multi-megabyte strings whole.
function assertSameRows(t, got, reader) {
  const want = expectedRows(t);
  assert.equal(got.length, want.length, `${reader}: row count`);
  t.columns.forEach((col, c) => {
    for (let r = 0; r < want.length; r++) {
      const a = got[r][c];
      const b = want[r][c] === null ? null : norm(col, want[r][c]);
      if (a !== b) {
        const show = (x) => (typeof x === 'string' && x.length > 80 ? `${x.slice(0, 80)}… (${x.length} chars)` : x);
        assert.fail(`${reader}: ${t.name} row ${r} column ${col.name}: got ${show(a)}, want ${show(b)}`);
      }
    }
  });
}

async function duckRows(sql) {
  const reader = await duck.runAndReadAll(sql);
  return reader.getRowObjects();
}

async function readDuck(t) {
  const sel = t.columns
    .map((c) => (c.type === 'timestamp' ? `epoch_us("${c.name}") AS "${c.name}"` : `"${c.name}"`))
    .join(', ');
  const reader = await duck.runAndReadAll(
    `SELECT ${sel} FROM read_parquet('${file(t.name)}', file_row_number = true) ORDER BY file_row_number`,
  );
  return reader.getRows().map((row) => row.map((v, c) => norm(t.columns[c], v)));
}

function readArrow(t) {
  const bytes = new Uint8Array(fs.readFileSync(file(t.name)));
  const table = tableFromIPC(readParquet(bytes).intoIPCStream());
  const rows = Array.from({ length: table.numRows }, () => []);
  t.columns.forEach((col, c) => {
    const vec = table.getChild(col.name);
    assert.ok(vec, `arrow-rs: no column ${col.name}`);
    if (col.type === 'timestamp') {
      // The raw int64 values: Arrow JS turns timestamps into lossy milliseconds.
      let r = 0;
      for (const d of vec.data) {
        for (let i = 0; i < d.length; i++, r++) {
          rows[r][c] = d.getValid(i) ? norm(col, d.values[d.offset + i], t.int96) : null;
        }
      }
    } else {
      for (let r = 0; r < table.numRows; r++) rows[r][c] = norm(col, vec.get(r));
    }
  });
  return { table, rows };
}

async function readHyparquet(t, extra = {}) {
  const bytes = fs.readFileSync(file(t.name));
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const objs = await parquetReadObjects({
    file: ab,
    compressors,
    // Keep timestamps as the exact bigint counts instead of millisecond Dates.
    parsers: { timestampFromMicroseconds: (v) => v, timestampFromNanoseconds: (v) => v },
    ...extra,
  });
  return objs.map((o) => t.columns.map((col) => norm(col, o[col.name], t.int96)));
}

const PHYSICAL = { boolean: 'BOOLEAN', int32: 'INT32', int64: 'INT64', string: 'BYTE_ARRAY', timestamp: 'INT64' };
const CONVERTED = { boolean: null, int32: 'INT_32', int64: 'INT_64', string: 'UTF8', timestamp: 'TIMESTAMP_MICROS' };
const DUCK_TYPE = {
  boolean: 'BOOLEAN', int32: 'INTEGER', int64: 'BIGINT', string: 'VARCHAR', timestamp: 'TIMESTAMP WITH TIME ZONE',
};
const ARROW_TYPE = {
  boolean: 'Bool', int32: 'Int32', int64: 'Int64', string: 'Utf8', timestamp: 'Timestamp<MICROSECOND, UTC>',
};

function physical(t, col) {
  return col.type === 'timestamp' && t.int96 ? 'INT96' : PHYSICAL[col.type];
}

for (const name of CASES) {
  test(`${name}: DuckDB reads every value`, async () => {
    const t = truth[name];
    assertSameRows(t, await readDuck(t), 'duckdb');
  });

  test(`${name}: arrow-rs (parquet-wasm) reads every value`, () => {
    const t = truth[name];
    const { table, rows } = readArrow(t);
    assertSameRows(t, rows, 'arrow-rs');
    t.columns.forEach((col, c) => {
      const f = table.schema.fields[c];
      assert.equal(f.name, col.name);
      const want = col.type === 'timestamp' && t.int96 ? 'Timestamp<NANOSECOND>' : ARROW_TYPE[col.type];
      assert.equal(String(f.type), want, `arrow-rs type of ${col.name}`);
      assert.equal(f.nullable, !col.required, `arrow-rs nullability of ${col.name}`);
    });
  });

  test(`${name}: hyparquet reads every value`, async () => {
    const t = truth[name];
    assertSameRows(t, await readHyparquet(t), 'hyparquet');
  });

  test(`${name}: schema, annotations, codec and statistics as DuckDB reports them`, async () => {
    const t = truth[name];
    const f = file(name);

    const desc = await duckRows(`DESCRIBE SELECT * FROM read_parquet('${f}')`);
    assert.deepEqual(
      desc.map((d) => [d.column_name, d.column_type]),
      t.columns.map((c) => [c.name, c.type === 'timestamp' && t.int96 ? 'TIMESTAMP' : DUCK_TYPE[c.type]]),
    );

    const schema = await duckRows(`SELECT * FROM parquet_schema('${f}')`);
    assert.equal(schema.length, t.columns.length + 1);
    assert.equal(Number(schema[0].num_children), t.columns.length);
    t.columns.forEach((col, c) => {
      const s = schema[c + 1];
      assert.equal(s.name, col.name);
      assert.equal(s.type, physical(t, col), `physical type of ${col.name}`);
      assert.equal(s.repetition_type, col.required ? 'REQUIRED' : 'OPTIONAL');
      const int96 = col.type === 'timestamp' && t.int96;
      assert.equal(s.converted_type, int96 ? null : CONVERTED[col.type], `converted type of ${col.name}`);
      const lt = s.logical_type;
      if (int96 || col.type === 'boolean') assert.equal(lt, null, `no logical type on ${col.name}`);
      else if (col.type === 'string') assert.match(lt, /^StringType\(\)$/);
      else if (col.type === 'timestamp') assert.match(lt, /^TimestampType\(isAdjustedToUTC=1, unit=TimeUnit\(MILLIS=<null>, MICROS=MicroSeconds\(\)/);
      else assert.match(lt, /^IntType\(.*isSigned=1\)$/);
    });

    const [fm] = await duckRows(`SELECT * FROM parquet_file_metadata('${f}')`);
    assert.match(fm.created_by, /^teams-attendance version \d+\.\d+\.\d+/);
    assert.equal(Number(fm.num_rows), t.rows.length);
    const orders = fm.column_orders.items;
    assert.equal(orders.length, t.columns.length);
    for (const o of orders) assert.match(String(o), /TYPE_ORDER=TypeDefinedOrder\(\)/);

    const meta = await duckRows(
      `SELECT * FROM parquet_metadata('${f}') ORDER BY row_group_id, column_id`,
    );
    const codec = { none: 'UNCOMPRESSED', snappy: 'SNAPPY', zstd: 'ZSTD' }[t.codec];
    // Rebuild the row group boundaries, then check every chunk's statistics
    // against the ground truth rows it holds.
    const groups = new Map();
    for (const m of meta) groups.set(Number(m.row_group_id), Number(m.row_group_num_rows));
    let first = 0;
    const starts = new Map();
    for (const [g, n] of [...groups.entries()].sort((a, b) => a[0] - b[0])) {
      starts.set(g, first);
      first += n;
    }
    assert.equal(first, t.rows.length, 'row groups cover every row');
    for (const m of meta) {
      const c = Number(m.column_id);
      const col = t.columns[c];
      assert.equal(m.path_in_schema, col.name);
      assert.equal(m.compression, codec);
      assert.equal(m.type, physical(t, col));
      const start = starts.get(Number(m.row_group_id));
      const vals = t.rows.slice(start, start + Number(m.row_group_num_rows)).map((r) => r[c]);
      assert.equal(Number(m.num_values), vals.length);
      const present = vals.filter((v) => v !== null);
      assert.equal(Number(m.stats_null_count), vals.length - present.length, `null count of ${col.name}`);
      const encodings = m.encodings.split(', ');
      assert.ok(encodings.includes('PLAIN'), `${col.name} encodings ${m.encodings}`);
      if (present.length === 0 || physical(t, col) === 'INT96') {
        assert.equal(m.stats_min_value, null, `no min for ${col.name}`);
        assert.equal(m.stats_max_value, null, `no max for ${col.name}`);
        continue;
      }
      let lo;
      let hi;
      if (col.type === 'string') {
        const bufs = present.map((v) => Buffer.from(v, 'utf8'));
        bufs.sort(Buffer.compare);
        [lo, hi] = [bufs[0], bufs[bufs.length - 1]];
        if (hi.length > 4096 || lo.length > 4096) {
          assert.equal(m.stats_max_value, null, `long strings leave no max for ${col.name}`);
          continue;
        }
        [lo, hi] = [lo.toString('utf8'), hi.toString('utf8')];
        // The deprecated fields use signed byte order: strings have none.
        assert.equal(m.stats_min, null);
      } else if (col.type === 'boolean') {
        [lo, hi] = [String(present.includes(false) ? false : true), String(present.includes(true))];
      } else {
        const big = present.map((v) => BigInt(v)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        [lo, hi] = [big[0], big[big.length - 1]];
        if (col.type === 'timestamp') {
          // DuckDB prints timestamp statistics as timestamps: compare in SQL.
          const [r] = await duckRows(
            `SELECT epoch_us('${m.stats_min_value}'::TIMESTAMPTZ) AS lo, epoch_us('${m.stats_max_value}'::TIMESTAMPTZ) AS hi`,
          );
          [lo, hi] = [lo.toString(), hi.toString()];
          assert.equal(String(r.lo), lo, `min of ${col.name}`);
          assert.equal(String(r.hi), hi, `max of ${col.name}`);
          continue;
        }
        [lo, hi] = [lo.toString(), hi.toString()];
        assert.equal(String(m.stats_min), lo, `deprecated min of ${col.name}`);
        assert.equal(String(m.stats_max), hi, `deprecated max of ${col.name}`);
      }
      assert.equal(String(m.stats_min_value), lo, `min of ${col.name}`);
      assert.equal(String(m.stats_max_value), hi, `max of ${col.name}`);
    }
  });
}

test('empty: a file with no rows has no row groups and keeps its schema', async () => {
  const f = file('empty');
  const [fm] = await duckRows(`SELECT * FROM parquet_file_metadata('${f}')`);
  assert.equal(Number(fm.num_rows), 0);
  assert.equal(Number(fm.num_row_groups), 0);
  const { table } = readArrow(truth.empty);
  assert.equal(table.numRows, 0);
  assert.deepEqual(table.schema.fields.map((x) => x.name), truth.empty.columns.map((c) => c.name));
});

test('many_*: row groups split at row_group_rows, pages at page_bytes, dictionary per chunk', async () => {
  for (const name of ['many_none', 'many_snappy', 'many_zstd']) {
    const f = file(name);
    const [fm] = await duckRows(`SELECT * FROM parquet_file_metadata('${f}')`);
    assert.equal(Number(fm.num_row_groups), 5, `${name}: 30000 rows at 7000 a group`);
    const meta = await duckRows(`SELECT * FROM parquet_metadata('${f}')`);
    for (const m of meta) {
      const dict = m.encodings.split(', ').includes('RLE_DICTIONARY');
      // Few distinct values: dictionary. Unique values: PLAIN.
      if (['category', 'run_id', 'bucket'].includes(m.path_in_schema)) {
        assert.ok(dict, `${name}: ${m.path_in_schema} should use a dictionary (${m.encodings})`);
        assert.ok(m.dictionary_page_offset !== null);
        assert.ok(Number(m.dictionary_page_offset) < Number(m.data_page_offset));
      }
      if (['id', 'label', 'unique_n', 'seen', 'flag'].includes(m.path_in_schema)) {
        assert.ok(!dict, `${name}: ${m.path_in_schema} should be PLAIN (${m.encodings})`);
        assert.equal(m.dictionary_page_offset, null);
      }
    }
  }
  // Walk the page headers of every label chunk: page_bytes 4096 splits each one.
  const f = file('many_snappy');
  const bytes = fs.readFileSync(f);
  const meta = await duckRows(`SELECT * FROM parquet_metadata('${f}') WHERE path_in_schema = 'label'`);
  let pages = 0;
  for (const m of meta) {
    const start = Number(m.dictionary_page_offset ?? m.data_page_offset);
    const headers = pageHeaders(bytes, start, Number(m.total_compressed_size));
    const data = headers.filter((h) => h[1] === 0);
    assert.equal(data.reduce((n, h) => n + h[5][1], 0), Number(m.row_group_num_rows), 'page values add up');
    pages += data.length;
  }
  assert.ok(pages > 5 * 10, `label spans many pages per row group (saw ${pages})`);
});

// A minimal Thrift compact reader, enough to walk PageHeaders: returns each struct as
// {fieldId: value}, nested structs as objects.
function pageHeaders(buf, start, length) {
  let pos = start;
  const varint = () => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[pos++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  const zz = () => {
    const v = varint();
    return Number((v >> 1n) ^ -(v & 1n));
  };
  const value = (type) => {
    switch (type) {
      case 1: return true;
      case 2: return false;
      case 3: return buf[pos++];
      case 4: case 5: case 6: return zz();
      case 8: { const n = Number(varint()); pos += n; return null; }
      case 9: {
        const h = buf[pos++];
        let n = h >> 4;
        if (n === 15) n = Number(varint());
        return Array.from({ length: n }, () => value(h & 15));
      }
      case 12: return struct();
      default: throw new Error(`thrift type ${type} at ${pos}`);
    }
  };
  const struct = () => {
    const out = {};
    let last = 0;
    for (;;) {
      const h = buf[pos++];
      if (h === 0) return out;
      const id = h >> 4 ? last + (h >> 4) : zz();
      out[id] = value(h & 15);
      last = id;
    }
  };
  const headers = [];
  while (pos < start + length) {
    const h = struct();
    headers.push(h);
    pos += h[3];
  }
  assert.equal(pos, start + length, 'pages fill the chunk exactly');
  return headers;
}

test('rg_bytes: row groups are flushed when their buffered size reaches row_group_bytes', async () => {
  const [fm] = await duckRows(`SELECT * FROM parquet_file_metadata('${file('rg_bytes')}')`);
  assert.ok(Number(fm.num_row_groups) >= 10, `saw ${fm.num_row_groups} row groups`);
});

test('codecs: compressed files are smaller than the uncompressed one', () => {
  const size = (n) => fs.statSync(file(n)).size;
  assert.ok(size('many_snappy') < size('many_none'));
  assert.ok(size('many_zstd') < size('many_snappy'));
});

test('files start and end with PAR1 and a footer length that fits', () => {
  for (const name of CASES) {
    const b = fs.readFileSync(file(name));
    assert.equal(b.subarray(0, 4).toString('latin1'), 'PAR1');
    assert.equal(b.subarray(b.length - 4).toString('latin1'), 'PAR1');
    const flen = b.readUInt32LE(b.length - 8);
    assert.ok(flen > 0 && flen + 12 <= b.length, `${name}: footer length ${flen}`);
  }
});
