// The field types of a Prisma schema, as the translator needs them: for every model, each field's
// kind (scalar, enum or relation), type and whether it is a list. Read from the same schema.prisma
// the engine serves (prisma-client-py hands its path in PRISMA_DML_PATH).

const SCALARS = new Set(["String", "Boolean", "Int", "BigInt", "Float", "Decimal", "DateTime", "Json", "Bytes"]);

/** Strip `//` comments, keeping string literals whole (a default may hold "//"). */
function stripComment(line) {
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"' && line[i - 1] !== "\\") inString = !inString;
    if (!inString && c === "/" && line[i + 1] === "/") return line.slice(0, i);
  }
  return line;
}

/**
 * @param {string} text the schema.prisma source
 * @returns {{models: Map<string, Map<string, {kind: string, type: string, list: boolean}>>, enums: Set<string>}}
 */
export function parseSchema(text) {
  const blocks = [];
  let current = null;
  for (const raw of text.split("\n")) {
    const line = stripComment(raw).trim();
    if (!current) {
      const m = /^(model|enum|view|type)\s+(\w+)\s*\{$/.exec(line);
      if (m) current = { kind: m[1], name: m[2], lines: [] };
      continue;
    }
    if (line === "}") {
      blocks.push(current);
      current = null;
    } else if (line && !line.startsWith("@@")) {
      current.lines.push(line);
    }
  }
  const enums = new Set(blocks.filter((b) => b.kind === "enum").map((b) => b.name));
  const names = new Set(blocks.filter((b) => b.kind === "model" || b.kind === "view").map((b) => b.name));
  const models = new Map();
  for (const block of blocks) {
    if (block.kind !== "model" && block.kind !== "view") continue;
    const fields = new Map();
    for (const line of block.lines) {
      const m = /^(\w+)\s+(\w+)(\[\])?(\?)?/.exec(line);
      if (!m) continue;
      const [, field, type, list] = m;
      const kind = SCALARS.has(type) ? "scalar" : enums.has(type) ? "enum" : names.has(type) ? "object" : "unsupported";
      fields.set(field, { kind, type, list: Boolean(list) });
    }
    models.set(block.name, fields);
  }
  return { models, enums };
}
