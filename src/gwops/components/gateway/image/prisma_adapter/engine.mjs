// A query-engine process for prisma-client-py without Prisma's native binaries.
//
// prisma-client-py (LiteLLM's database client) starts its engine as
// `query-engine -p PORT --enable-metrics --enable-raw-queries` and speaks HTTP to it: GET /status,
// POST / (one GraphQL query, or a batch), POST /transaction/start, /transaction/ID/commit|rollback,
// with `X-transaction-id` on queries inside a transaction. This process answers that interface with
// Prisma's own WASM query engine (npm @prisma/query-engine-wasm, the build of the exact engine hash
// prisma-client-py 0.15.0 expects) over node-postgres (@prisma/adapter-pg). Queries are translated
// by translate.mjs; whatever it does not know is refused with an error naming model and operation.
//
// Environment: PRISMA_DML_PATH (the schema, set by prisma-client-py), the datasource URL from
// OVERWRITE_DATASOURCES or the schema's env("...") variable; its `connection_limit` sizes the pool
// (default GWOPS_PRISMA_POOL, else 5), `schema` picks the Postgres schema. The URL never appears in
// a log line.

import { webcrypto } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { parse as parseArray } from "postgres-array";
import { PrismaPg } from "@prisma/adapter-pg";
import { bindAdapter } from "@prisma/driver-adapter-utils";
import * as bg from "@prisma/query-engine-wasm/postgresql/query_engine_bg.js";
import { parseSchema } from "./schema.mjs";
import { Refused, answer, errorBody, translate } from "./translate.mjs";

// The WASM engine draws randomness (transaction ids) from the Web Crypto global, which Node 18
// (Debian bookworm's) does not set: without it, starting a transaction aborts the engine.
if (!globalThis.crypto) globalThis.crypto = webcrypto;

export const ENGINE_HASH = "393aa359c9ad4a4bb28630fb5613f9c281cde053";
const TRACE = JSON.stringify({ traceparent: "00-10-10-00" });
const DEBUG = Boolean(process.env.GWOPS_PRISMA_DEBUG); // log every query's shape (never its values)
const URL_OPTIONS = ["connection_limit", "pool_timeout", "connect_timeout", "socket_timeout", "schema", "pgbouncer",
  "statement_cache_size", "application_name"];

function log(level, message, extra = {}) {
  process.stderr.write(`${JSON.stringify({ level, target: "gwops_prisma_adapter", message, ...extra })}\n`);
}

function arg(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The datasource URL as prisma-client-py gives it, and the schema's env var otherwise. */
function datasourceUrl(schemaText) {
  const overrides = process.env.OVERWRITE_DATASOURCES;
  if (overrides) {
    const list = JSON.parse(overrides);
    if (list.length && list[0].url) return list[0].url;
  }
  const m = /url\s*=\s*env\("(\w+)"\)/.exec(schemaText);
  const url = m && process.env[m[1]];
  if (!url) throw new Error(`no database URL: set ${m ? m[1] : "the datasource's variable"}`);
  return url;
}

/** Pool settings from Prisma's URL options, which node-postgres does not know (stripped). */
function poolConfig(rawUrl) {
  const url = new URL(rawUrl);
  const opts = Object.fromEntries(URL_OPTIONS.map((k) => [k, url.searchParams.get(k)]).filter(([, v]) => v !== null));
  for (const k of URL_OPTIONS) url.searchParams.delete(k);
  const config = {
    connectionString: url.toString(),
    max: Number(opts.connection_limit ?? process.env.GWOPS_PRISMA_POOL ?? 5),
    idleTimeoutMillis: 60_000,
    application_name: opts.application_name ?? "litellm-prisma-adapter",
  };
  if (opts.connect_timeout) config.connectionTimeoutMillis = Number(opts.connect_timeout) * 1000;
  if (opts.socket_timeout) config.query_timeout = Number(opts.socket_timeout) * 1000;
  return { config, schema: opts.schema };
}

// adapter-pg 5.17 fails a query whose result has a column type it does not map ("Failed to
// deserialize column of type 'Unknown'"), where the native engine reads it as text: e.g. a `name[]`
// from ARRAY_AGG(viewname) in LiteLLM's view check. Such columns are handed over as text (arrays as
// text arrays), their type looked up once per type OID in pg_type.
const MAPPED = new Set([21, 23, 20, 700, 701, 16, 1082, 1083, 1266, 1114, 1184, 1700, 790, 114, 3802, 2950, 26, 1042,
  25, 1043, 1560, 1562, 869, 650, 142, 17, 1005, 1007, 1021, 1022, 1231, 791, 1000, 1002, 1014, 1009, 1015, 1563,
  1561, 1041, 651, 143, 1182, 1183, 1115, 199, 3807, 1001, 2951, 1016, 1028]);
const TEXT = 25;
const TEXT_ARRAY = 1009;

function readUnknownColumnsAsText(pool) {
  const isArray = new Map();
  const queryable = Object.getPrototypeOf(PrismaPg.prototype);
  const performIO = queryable.performIO;
  queryable.performIO = async function (query) {
    const res = await performIO.call(this, query);
    if (!res.ok) return res;
    const { fields, rows } = res.value;
    for (let i = 0; i < (fields ?? []).length; i++) {
      const oid = fields[i].dataTypeID;
      if (MAPPED.has(oid) || oid >= 10000) continue;
      if (!isArray.has(oid)) {
        const r = await pool.query("SELECT typcategory = 'A' AS a FROM pg_type WHERE oid = $1", [oid]);
        isArray.set(oid, Boolean(r.rows[0]?.a));
      }
      const array = isArray.get(oid);
      fields[i].dataTypeID = array ? TEXT_ARRAY : TEXT;
      for (const row of rows) {
        const v = row[i];
        if (v === null || v === undefined) continue;
        row[i] = array ? (typeof v === "string" ? parseArray(v) : v).map((x) => (x === null ? null : String(x))) : String(v);
      }
    }
    return res;
  };
}

async function loadEngine(schemaText, adapter) {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve("@prisma/query-engine-wasm/package.json"));
  const bytes = readFileSync(join(pkg, "postgresql", "query_engine_bg.wasm"));
  const { instance } = await WebAssembly.instantiate(bytes, { "./query_engine_bg.js": bg });
  bg.__wbg_set_wasm(instance.exports);
  const onLog = (json) => {
    try {
      const event = JSON.parse(json);
      if (event.level === "ERROR" || event.level === "WARN" || event.level === "error" || event.level === "warn") {
        log(String(event.level).toLowerCase(), event.message ?? "engine", { module: event.module_path });
      }
    } catch {
      log("warn", String(json));
    }
  };
  return new bg.QueryEngine({ datamodel: schemaText, logLevel: "warn", logQueries: false }, onLog, adapter);
}

function send(res, status, body) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString("utf8");
}

/** One request of the native interface, answered with the WASM engine. */
export function handler(engine, schema) {
  async function single(body, txId) {
    const json = translate(body.query, schema);
    if (DEBUG) log("debug", "query", { query: JSON.stringify(json) });
    const out = JSON.parse(await engine.query(JSON.stringify(json), TRACE, txId));
    return answer(out, json.action);
  }

  async function batch(body, txId) {
    const queries = body.batch.map((q) => translate(q.query, schema));
    const request = { batch: queries };
    if (DEBUG) log("debug", "batch", { queries: JSON.stringify(queries), transaction: body.transaction });
    if (body.transaction) request.transaction = typeof body.transaction === "object" ? body.transaction : {};
    const out = JSON.parse(await engine.query(JSON.stringify(request), TRACE, txId));
    if (!out.batchResult) return out;
    return { batchResult: out.batchResult.map((r, i) => answer(r, queries[i].action)) };
  }

  return async (req, res) => {
    const url = req.url.split("?")[0];
    const txId = req.headers["x-transaction-id"] || undefined;
    try {
      if (req.method === "GET" && url === "/status") return send(res, 200, { status: "ok" });
      if (req.method === "GET" && url === "/metrics") return send(res, 200, req.url.includes("prometheus") ? "" : {});
      if (req.method !== "POST") return send(res, 404, errorBody(`no ${req.method} ${url}`));
      const text = await readBody(req);
      if (DEBUG && url !== "/") log("debug", "request", { url, body: text });
      if (url === "/") {
        const body = JSON.parse(text);
        return send(res, 200, body.batch ? await batch(body, txId) : await single(body, txId));
      }
      if (url === "/transaction/start") return send(res, 200, await engine.startTransaction(text || "{}", TRACE));
      const m = /^\/transaction\/([^/]+)\/(commit|rollback)$/.exec(url);
      if (m) {
        const out = m[2] === "commit" ? engine.commitTransaction(m[1], TRACE) : engine.rollbackTransaction(m[1], TRACE);
        return send(res, 200, await out);
      }
      return send(res, 404, errorBody(`no POST ${url}`));
    } catch (e) {
      if (e instanceof Refused) {
        log("error", e.message);
        return send(res, 200, errorBody(e.message));
      }
      log("error", `adapter failure: ${e?.message ?? e}`);
      return send(res, 500, errorBody(`gwops prisma adapter: ${e?.message ?? e}`));
    }
  };
}

async function main() {
  if (process.argv.includes("--version") || process.argv.includes("-V")) {
    process.stdout.write(`query-engine ${ENGINE_HASH}\n`);
    return;
  }
  const port = Number(arg("-p") ?? arg("--port") ?? 4466);
  const dml = process.env.PRISMA_DML_PATH;
  if (!dml) throw new Error("PRISMA_DML_PATH is not set (the schema.prisma to serve)");
  const schemaText = readFileSync(dml, "utf8");
  const schema = parseSchema(schemaText);
  const { config, schema: pgSchema } = poolConfig(datasourceUrl(schemaText));
  const pool = new pg.Pool(config);
  pool.on("error", (e) => log("warn", `idle database connection failed: ${e.message}`));
  readUnknownColumnsAsText(pool);
  const adapter = bindAdapter(new PrismaPg(pool, pgSchema ? { schema: pgSchema } : undefined));
  const engine = await loadEngine(schemaText, adapter);
  await engine.connect(TRACE);

  const server = createServer(handler(engine, schema));
  server.keepAliveTimeout = 0; // prisma-client-py keeps its connection: never close it under it
  server.requestTimeout = 0;
  server.listen(port, "127.0.0.1");

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server.close();
    try {
      await engine.disconnect(TRACE);
      await pool.end();
    } finally {
      process.exit(0);
    }
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  // The client that started us died without stopping us (a killed worker): go too.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop();
  }, 1000).unref();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    log("error", `query engine adapter failed to start: ${e?.message ?? e}`);
    process.exit(1);
  });
}
