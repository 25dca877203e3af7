// The API page: /api/openapi.json as a readable list of operations, with no Swagger UI and no CDN.
import { api, el, page } from "./common.js";

const $ = (id) => document.getElementById(id);
let spec = {};

/** Follow a local "$ref" (#/components/schemas/Name). */
function resolve(schema) {
  let seen = 0;
  while (schema && schema.$ref && seen++ < 20) {
    schema = schema.$ref.replace(/^#\//, "").split("/").reduce((node, part) => (node ? node[part] : undefined), spec);
  }
  return schema || {};
}

function refName(schema) {
  return schema && schema.$ref ? schema.$ref.split("/").pop() : null;
}

/** A schema's type in a few words: "integer", "array of string", "Variant | null", enums listed. */
function typeOf(schema) {
  if (!schema) return "";
  if (schema.$ref) return refName(schema);
  const options = schema.anyOf || schema.oneOf;
  if (options) return options.map(typeOf).join(" | ");
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.type === "array") return `array of ${typeOf(schema.items) || "any"}`;
  return schema.type || (schema.properties ? "object" : "any");
}

/** Bounds and defaults: "−60 ≤ x ≤ 12, default 0". */
function bounds(schema) {
  const parts = [];
  const walk = (s) => {
    if (!s) return;
    if (s.anyOf) s.anyOf.forEach(walk);
    if (s.minimum !== undefined) parts.push(`≥ ${s.minimum}`);
    if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
    if (s.maximum !== undefined) parts.push(`≤ ${s.maximum}`);
    if (s.exclusiveMaximum !== undefined) parts.push(`< ${s.exclusiveMaximum}`);
    if (s.minLength !== undefined) parts.push(`length ≥ ${s.minLength}`);
    if (s.maxLength !== undefined) parts.push(`length ≤ ${s.maxLength}`);
    if (s.pattern) parts.push(`matches ${s.pattern}`);
  };
  walk(schema);
  if (schema.default !== undefined) parts.push(`default ${JSON.stringify(schema.default)}`);
  return parts.join(", ");
}

function fields(title, schema) {
  const body = resolve(schema);
  const props = body.properties || {};
  const required = new Set(body.required || []);
  const name = refName(schema) || typeOf(schema);
  if (!Object.keys(props).length) return el("p", {}, `${title}: `, el("code", {}, name || "any"));
  return el("div", {},
    el("p", {}, `${title}: `, el("code", {}, name || "object"), body.description ? ` — ${body.description}` : ""),
    el("table", {},
      el("thead", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, "type"), el("th", {}, "bounds"), el("th", {}, "about"))),
      el("tbody", {}, ...Object.entries(props).map(([key, prop]) => {
        const shown = prop.$ref ? resolve(prop) : prop;
        return el("tr", {},
          el("td", {}, el("code", {}, key), required.has(key) ? " *" : ""),
          el("td", {}, typeOf(prop)),
          el("td", {}, bounds(shown)),
          el("td", {}, shown.description || prop.title || ""));
      }))));
}

function operation(path, method, op) {
  const params = (op.parameters || []).map((p) =>
    el("li", {}, el("code", {}, p.name), ` (${p.in}${p.required ? ", required" : ""}): ${typeOf(p.schema)} ${bounds(p.schema || {})}`));
  const content = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
  const responses = Object.entries(op.responses || {}).map(([code, answer]) => {
    const json = answer.content && answer.content["application/json"];
    return el("li", {}, el("code", {}, code), ` ${answer.description || ""}`,
      json && json.schema ? el("span", { class: "muted" }, ` → ${typeOf(json.schema)}`) : "");
  });
  return el("details", { class: "op", "data-op": `${method.toUpperCase()} ${path}` },
    el("summary", {}, el("span", { class: `method ${method}` }, method.toUpperCase()), el("span", { class: "path" }, path),
      el("span", { class: "muted" }, op.summary || "")),
    op.description ? el("p", {}, op.description) : null,
    params.length ? el("div", {}, el("p", {}, "Parameters:"), el("ul", {}, ...params)) : null,
    content ? fields("Request body (JSON)", content.schema) : null,
    el("p", {}, "Responses:"), el("ul", {}, ...responses));
}

async function load() {
  spec = await api("GET", "/api/openapi.json");
  const info = spec.info || {};
  $("api-title").textContent = `${info.title || "stemhost"} HTTP API ${info.version ? `(${info.version})` : ""}`;
  $("api-about").textContent = info.description || "";
  const ops = [];
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const method of ["get", "post", "put", "patch", "delete"]) {
      if (item[method]) ops.push(operation(path, method, item[method]));
    }
  }
  $("ops").replaceChildren(...ops);
}

page("docs");
load().catch(() => {});
