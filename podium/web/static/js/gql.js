// GraphQL over HTTP (fetch) and graphql-transport-ws (the graphql-ws client), same origin only.
// Credentials travel in the Authorization header, from sessionStorage; never in cookies.
import { createClient } from "/static/vendor/graphql-ws.js";

export const tier = document.body.dataset.tier === "global" ? "global" : "region";
const ADMIN_KEY = "podium.admin";
const TOKEN_KEY = "podium.token";

export const adminCredential = () => sessionStorage.getItem(ADMIN_KEY) || "";
export const playerToken = () => sessionStorage.getItem(TOKEN_KEY) || "";
export function setAdminCredential(value) { store(ADMIN_KEY, value); }
export function setPlayerToken(value) { store(TOKEN_KEY, value); }
function store(key, value) {
  if (value) sessionStorage.setItem(key, value); else sessionStorage.removeItem(key);
}

export class ApiError extends Error {
  constructor(message, code, status) { super(message); this.code = code; this.status = status; }
}

function headers(credential, json) {
  const h = { accept: "application/json" };
  if (json) h["content-type"] = "application/json";
  if (credential) h.authorization = `Bearer ${credential}`;
  return h;
}

export async function gql(query, variables = {}, credential = "") {
  const response = await fetch("/graphql", {
    method: "POST", credentials: "omit", headers: headers(credential, true),
    body: JSON.stringify({ query, variables }),
  });
  let doc;
  try { doc = await response.json(); } catch { throw new ApiError(`HTTP ${response.status}`, "HTTP", response.status); }
  if (doc.errors && doc.errors.length) {
    const e = doc.errors[0];
    throw new ApiError(e.message, (e.extensions && e.extensions.code) || "ERROR", response.status);
  }
  return doc.data;
}

export async function rest(method, path, credential = "", body = undefined) {
  const init = { method, credentials: "omit", headers: headers(credential, body !== undefined) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  const doc = await response.json().catch(() => ({}));
  if (!response.ok) {
    const e = (doc.errors && doc.errors[0]) || doc.error || {};
    throw new ApiError(e.message || `HTTP ${response.status}`, (e.extensions && e.extensions.code) || e.code || "HTTP", response.status);
  }
  return doc;
}

const clients = new Map();
function wsClient(credential) {
  if (!clients.has(credential)) {
    const url = new URL("/graphql", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    clients.set(credential, createClient({
      url: url.href,
      lazy: true,
      retryAttempts: 1000,
      connectionParams: () => (credential ? { authorization: `Bearer ${credential}` } : {}),
    }));
  }
  return clients.get(credential);
}

// Calls onData(data) per message; returns a function that ends the subscription.
export function subscribe(query, variables, { onData, onError, credential = "" }) {
  return wsClient(credential).subscribe({ query, variables }, {
    next: (msg) => {
      if (msg.errors && msg.errors.length) onError(new ApiError(msg.errors[0].message,
        (msg.errors[0].extensions && msg.errors[0].extensions.code) || "ERROR"));
      else onData(msg.data);
    },
    error: (err) => onError(err instanceof Error ? err : new ApiError(err.reason || "connection closed", "WS")),
    complete: () => {},
  });
}

// A small DOM builder: h("td", { class: "x" }, "text", child).
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

export const fmt = new Intl.NumberFormat();
export function timeText(value) {
  const d = typeof value === "number" ? new Date(value) : new Date(value);
  return Number.isNaN(d.getTime()) ? "—" : d.toLocaleTimeString();
}
