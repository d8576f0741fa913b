// GraphQL (the native engine's protocol, as prisma-client-py writes it) -> Prisma's JSON protocol
// (what the WASM engine takes), and the engine's typed answers back to plain values.
//
// prisma-client-py writes one shape: `query|mutation { result: <action><Model>(args) { fields } }`,
// every value a JSON literal (Json fields as JSON text in a string, DateTime as ISO text, Decimal
// and BigInt as numbers or strings). The JSON protocol needs those types tagged
// ({"$type": "Json", "value": ...}), which the schema tells: a Json field sent as a plain string is
// stored as a JSON string (double-encoded). Anything outside the known shape is refused with an
// error naming the model and operation: never a guess.

import { Kind, parse } from "graphql";

const MODEL_ACTIONS = [
  ["findUnique", "OrThrow"], ["findFirst", "OrThrow"], ["findMany"], ["createOne"], ["createMany"],
  ["updateOne"], ["updateMany"], ["deleteOne"], ["deleteMany"], ["upsertOne"], ["aggregate"], ["groupBy"],
];
const RAW_ACTIONS = new Set(["queryRaw", "executeRaw"]);

// top-level arguments: typed against the model, or taken as they are
const TYPED_ARGS = new Set(["where", "cursor", "data", "create", "update", "having"]);
const PLAIN_ARGS = new Set(["orderBy", "by", "distinct", "take", "skip", "skipDuplicates"]);
const AGGREGATES = new Set(["_count", "_sum", "_avg", "_min", "_max"]);
// keys inside a scalar field's filter or update object that are not values of the field's type
const PLAIN_FILTER_KEYS = new Set(["mode", "path", "string_contains", "string_starts_with", "string_ends_with"]);
const TAGGED = { BigInt: "BigInt", Decimal: "Decimal", DateTime: "DateTime", Json: "Json", Bytes: "Bytes" };

export class Refused extends Error {
  constructor(message, where) {
    super(`gwops prisma adapter: ${message}${where ? ` (${where})` : ""}; this query shape is not translated`);
    this.name = "Refused";
  }
}

/** A GraphQL literal as a plain JS value (no schema typing). */
function plain(node) {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.ENUM:
      return node.value;
    case Kind.INT: {
      const n = Number(node.value);
      return Number.isSafeInteger(n) ? n : node.value;
    }
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.BOOLEAN:
      return node.value;
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map(plain);
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, plain(f.value)]));
    default:
      throw new Refused(`GraphQL ${node.kind} is not a literal`);
  }
}

/** A leaf literal of a scalar field of `type`, tagged as the JSON protocol wants it. */
function leaf(node, type, ctx) {
  if (node.kind === Kind.NULL) return type === "Json" ? { $type: "Enum", value: "DbNull" } : null;
  const tag = TAGGED[type];
  if (!tag) return plain(node);
  if (node.kind === Kind.OBJECT || node.kind === Kind.LIST) {
    throw new Refused(`a ${node.kind} where a ${type} value was expected`, ctx);
  }
  return { $type: tag, value: String(node.value) };
}

/** The value given for a scalar field: a literal, a list of them, or a filter/update object. */
function scalarValue(node, type, ctx) {
  if (node.kind === Kind.LIST) return node.values.map((v) => scalarValue(v, type, ctx));
  if (node.kind === Kind.OBJECT) {
    return Object.fromEntries(node.fields.map((f) => {
      const key = f.name.value;
      return [key, PLAIN_FILTER_KEYS.has(key) ? plain(f.value) : scalarValue(f.value, type, ctx)];
    }));
  }
  return leaf(node, type, ctx);
}

/** An input object (where, data, nested writes, compound unique keys) of `model`, typed. */
function typed(node, model, schema, ctx) {
  if (node.kind === Kind.LIST) return node.values.map((v) => typed(v, model, schema, ctx));
  if (node.kind !== Kind.OBJECT) return plain(node);
  const fields = schema.models.get(model);
  const out = {};
  for (const f of node.fields) {
    const key = f.name.value;
    const info = fields.get(key);
    if (!info) {
      // AND/OR/NOT, some/every/none/is/isNot, create/connect/update/upsert/set..., compound keys
      if (f.value.kind !== Kind.OBJECT && f.value.kind !== Kind.LIST) {
        throw new Refused(`unknown field \`${key}\` of ${model}`, ctx);
      }
      out[key] = typed(f.value, model, schema, ctx);
    } else if (info.kind === "scalar") {
      out[key] = scalarValue(f.value, info.type, `${ctx}, field ${key}`);
    } else if (info.kind === "object") {
      out[key] = typed(f.value, info.type, schema, ctx);
    } else if (info.kind === "enum") {
      out[key] = plain(f.value);
    } else {
      throw new Refused(`field \`${key}\` of ${model} has an unsupported type ${info.type}`, ctx);
    }
  }
  return out;
}

function args(argNodes, model, schema, ctx) {
  const out = {};
  for (const a of argNodes ?? []) {
    const name = a.name.value;
    if (TYPED_ARGS.has(name)) out[name] = typed(a.value, model, schema, ctx);
    else if (PLAIN_ARGS.has(name)) out[name] = plain(a.value);
    else throw new Refused(`unknown argument \`${name}\``, ctx);
  }
  return out;
}

function selection(set, model, schema, ctx) {
  const out = {};
  for (const s of set?.selections ?? []) {
    if (s.kind !== Kind.FIELD || s.alias || s.directives?.length) {
      throw new Refused(`a ${s.kind}${s.alias ? " with an alias" : ""} in the selection`, ctx);
    }
    const name = s.name.value;
    if (!s.selectionSet) {
      if (s.arguments?.length) throw new Refused(`arguments on scalar field \`${name}\``, ctx);
      out[name] = true;
      continue;
    }
    const info = model && schema.models.get(model)?.get(name);
    if (AGGREGATES.has(name)) {
      out[name] = { selection: selection(s.selectionSet, null, schema, ctx) };
    } else if (info?.kind === "object") {
      const related = info.type;
      out[name] = {
        arguments: args(s.arguments, related, schema, `${ctx}, relation ${name}`),
        selection: selection(s.selectionSet, related, schema, `${ctx}, relation ${name}`),
      };
    } else {
      throw new Refused(`\`${name}\` is no relation of ${model}`, ctx);
    }
  }
  return out;
}

/** The action and model a root field names, e.g. findUniqueLiteLLM_VerificationTokenOrThrow. */
function rootAction(name, schema) {
  if (RAW_ACTIONS.has(name)) return { action: name, model: undefined };
  for (const [prefix, suffix] of MODEL_ACTIONS) {
    if (!name.startsWith(prefix)) continue;
    let model = name.slice(prefix.length);
    let action = prefix;
    if (suffix && model.endsWith(suffix) && !schema.models.has(model)) {
      model = model.slice(0, -suffix.length);
      action += suffix;
    }
    if (schema.models.has(model)) return { action, model };
  }
  throw new Refused(`unknown operation \`${name}\``);
}

/**
 * One GraphQL request body's query -> one JSON-protocol query.
 * @returns {object} {modelName, action, query: {arguments, selection}}
 */
export function translate(graphql, schema) {
  let doc;
  try {
    doc = parse(graphql, { noLocation: true });
  } catch (e) {
    throw new Refused(`the query does not parse: ${e.message}`);
  }
  const ops = doc.definitions;
  if (ops.length !== 1 || ops[0].kind !== Kind.OPERATION_DEFINITION || ops[0].variableDefinitions?.length) {
    throw new Refused("not exactly one operation without variables");
  }
  const roots = ops[0].selectionSet.selections;
  if (roots.length !== 1 || roots[0].kind !== Kind.FIELD) throw new Refused("not exactly one root field");
  const root = roots[0];
  const { action, model } = rootAction(root.name.value, schema);
  const ctx = model ? `model ${model}, operation ${action}` : `operation ${action}`;
  if (!model) {
    const raw = {};
    for (const a of root.arguments ?? []) {
      const name = a.name.value;
      if (name !== "query" && name !== "parameters") throw new Refused(`unknown argument \`${name}\``, ctx);
      if (a.value.kind !== Kind.STRING) throw new Refused(`\`${name}\` is not a string`, ctx);
      raw[name] = a.value.value;
    }
    if (raw.query === undefined) throw new Refused("no `query`", ctx);
    return { action, query: { arguments: { parameters: "[]", ...raw }, selection: {} } };
  }
  return {
    modelName: model,
    action,
    query: {
      arguments: args(root.arguments, model, schema, ctx),
      selection: selection(root.selectionSet, model, schema, ctx),
    },
  };
}

/** The engine's typed values ({"$type": "DateTime", "value": ...}) as the native engine answered them. */
export function unwrap(value) {
  if (Array.isArray(value)) return value.map(unwrap);
  if (value === null || typeof value !== "object") return value;
  if (typeof value.$type === "string" && "value" in value && Object.keys(value).length === 2) {
    return value.value;
  }
  const out = {};
  for (const [k, v] of Object.entries(value)) out[k] = unwrap(v);
  return out;
}

/** One JSON-protocol answer ({"data": {"<op><Model>": x}} or {"errors": [...]}) as the native
 * engine gave it to prisma-client-py ({"data": {"result": x}}). Raw results are left as they are. */
export function answer(response, action) {
  if (!response || response.errors || !response.data) return response;
  const values = Object.values(response.data);
  if (values.length !== 1) return response;
  const result = RAW_ACTIONS.has(action) ? values[0] : unwrap(values[0]);
  return { data: { result } };
}

/** The native engine's error shape, for a refusal or a failure of the adapter itself. */
export function errorBody(message, code) {
  const userFacing = { is_panic: false, message, meta: { engine: "gwops-prisma-adapter" } };
  if (code) userFacing.error_code = code;
  return { errors: [{ error: message, user_facing_error: userFacing }] };
}
