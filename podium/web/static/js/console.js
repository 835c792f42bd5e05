// The admin console: every action is a public GraphQL mutation or REST admin route, sent with the
// credential from this tab's sessionStorage in the Authorization header (no cookies, so no CSRF).
import { adminCredential, fmt, gql, h, rest, setAdminCredential, tier, timeText } from "./gql.js";

const $ = (id) => document.getElementById(id);
const BOARD_FIELDS = "id operator order scoreMin scoreMax maxDeltaPerMinute publicRead cacheMaxAge season";

function say(text, kind = "") {
  const node = $("console-status");
  node.textContent = text;
  node.dataset.state = kind;
}

// Runs an admin action and reports its outcome; returns its result or undefined on error.
async function act(label, fn) {
  if (!adminCredential()) { say("Enter an admin key or admin JWT first.", "error"); return undefined; }
  try {
    const result = await fn(adminCredential());
    say(label, "ok");
    if (tier === "region") loadAudit();
    return result;
  } catch (err) {
    say(`${label} failed: ${err.message}${err.code ? ` (${err.code})` : ""}`, "error");
    return undefined;
  }
}

const admin = (query, variables) => (cred) => gql(query, variables, cred);

// --- boards ---------------------------------------------------------------------------------------
let boards = [];

async function loadBoards() {
  const data = await gql(tier === "global" ? "query { boards { id } }" : `query { boards { ${BOARD_FIELDS} } }`);
  boards = data.boards;
  for (const select of document.querySelectorAll(".board-select")) {
    const keep = select.value;
    select.replaceChildren(...boards.map((b) => h("option", { value: b.id }, b.id)));
    if (boards.some((b) => b.id === keep)) select.value = keep;
  }
  if (tier !== "region") return;
  $("boards-list").replaceChildren(...boards.map((b) => h("li", { "data-board": b.id },
    h("span", {}, h("strong", {}, b.id), ` ${b.operator.toLowerCase()} ${b.order.toLowerCase()} · season ${b.season}`,
      b.maxDeltaPerMinute !== null ? ` · Δ≤${fmt.format(b.maxDeltaPerMinute)}/min` : "", b.publicRead ? "" : " · private"),
    h("span", { class: "row" },
      h("button", { type: "button", class: "secondary", "aria-label": `Edit ${b.id}`, onclick: () => editBoard(b) }, "Edit"),
      h("button", { type: "button", class: "secondary", "aria-label": `Reset season of ${b.id}`, onclick: () => resetBoard(b.id) }, "Reset season"),
      h("button", { type: "button", class: "danger", "aria-label": `Delete ${b.id}`, onclick: () => deleteBoard(b.id) }, "Delete")))));
}

function numberOrNull(value) {
  return value === "" ? null : Number(value);
}

function boardInput() {
  return {
    id: $("bf-id").value.trim(),
    operator: $("bf-operator").value,
    order: $("bf-order").value,
    scoreMin: numberOrNull($("bf-min").value),
    scoreMax: numberOrNull($("bf-max").value),
    maxDeltaPerMinute: numberOrNull($("bf-delta").value),
    publicRead: $("bf-public").checked,
    cacheMaxAge: Number($("bf-age").value || 1),
  };
}

function editBoard(b) {
  $("bf-id").value = b.id;
  $("bf-operator").value = b.operator;
  $("bf-order").value = b.order;
  $("bf-min").value = b.scoreMin ?? "";
  $("bf-max").value = b.scoreMax ?? "";
  $("bf-delta").value = b.maxDeltaPerMinute ?? "";
  $("bf-age").value = b.cacheMaxAge;
  $("bf-public").checked = b.publicRead;
  $("bf-id").focus();
}

async function saveBoard(mutation, verb) {
  const board = boardInput();
  if (!board.id) { say("A board needs an id.", "error"); return; }
  const done = await act(`${verb} board ${board.id}`,
    admin(`mutation($b:BoardInput!){ ${mutation}(board:$b){ id } }`, { b: board }));
  if (done) await loadBoards();
}

async function resetBoard(id) {
  if (!confirm(`Start a new season of ${id}? The current standings are archived.`)) return;
  if (await act(`Reset the season of ${id}`, admin("mutation($b:String!){ resetBoard(board:$b){ id season } }", { b: id }))) await loadBoards();
}

async function deleteBoard(id) {
  if (!confirm(`Delete the board ${id}?`)) return;
  if (await act(`Deleted board ${id}`, admin("mutation($b:String!){ deleteBoard(board:$b) }", { b: id }))) await loadBoards();
}

// --- players --------------------------------------------------------------------------------------
function playerAction(field, verb, destructive) {
  return async () => {
    const board = $("pf-board").value, player = $("pf-player").value.trim();
    if (!player) { say("Enter a player id.", "error"); return; }
    if (destructive && !confirm(`${verb} ${player} on ${board}?`)) return;
    await act(`${verb} ${player} on ${board}`,
      admin(`mutation($b:String!,$p:String!){ ${field}(board:$b, player:$p) }`, { b: board, p: player }));
  };
}

async function editScore() {
  const board = $("pf-board").value, player = $("pf-player").value.trim();
  const raw = $("ef-score").value, reason = $("ef-reason").value;
  if (!player) { say("Enter a player id.", "error"); return; }
  if (raw === "" || !Number.isInteger(Number(raw))) { say("Enter a whole-number score.", "error"); return; }
  if (!reason.trim()) { say("A score edit needs a reason.", "error"); return; }
  const data = await act(`Edited ${player}'s score on ${board}`, admin(
    "mutation($b:String!,$p:String!,$s:Long!,$r:String!){ editScore(board:$b, player:$p, score:$s, reason:$r){ status reason rank score } }",
    { b: board, p: player, s: raw, r: reason }));
  if (!data) return;
  const e = data.editScore;
  if (e.status === "applied") {
    say(`Edited ${player}'s score on ${board}: ${fmt.format(e.score)}, rank ${e.rank}`, "ok");
    $("ef-reason").value = "";
  } else {
    say(`Score edit of ${player} on ${board} ${e.status}: ${e.reason || ""}`, "error");
  }
}

// --- quarantine -----------------------------------------------------------------------------------
async function loadQuarantine() {
  const board = $("qf-board").value;
  const data = await act(`Loaded the quarantine of ${board}`, admin(
    "query($b:String!){ quarantined(board:$b, first:50){ id player score achievedAt eventId reason detail } }", { b: board }));
  if (!data) return;
  const list = $("quarantine-list");
  list.replaceChildren(...data.quarantined.map((q) => {
    const reasonId = `qr-${q.id}`;
    return h("li", { "data-id": q.id, "data-player": q.player },
      h("span", {}, h("strong", {}, q.player), ` ${fmt.format(q.score)} · ${q.reason} `, h("span", { class: "mono" }, JSON.stringify(q.detail))),
      h("span", { class: "row" },
        h("label", { for: reasonId }, "Reason"), h("input", { id: reasonId, autocomplete: "off" }),
        h("button", { type: "button", onclick: () => review(board, q, true) , "aria-label": `Approve ${q.player}'s ${q.score}` }, "Approve"),
        h("button", { type: "button", class: "danger", onclick: () => review(board, q, false), "aria-label": `Reject ${q.player}'s ${q.score}` }, "Reject")));
  }));
  if (data.quarantined.length === 0) list.append(h("li", {}, "Nothing in quarantine."));
}

async function review(board, q, approve) {
  const reason = document.getElementById(`qr-${q.id}`).value;
  const query = approve
    ? "mutation($b:String!,$id:String!,$r:String!){ approveQuarantined(board:$b, id:$id, reason:$r){ status rank } }"
    : "mutation($b:String!,$id:String!,$r:String!){ rejectQuarantined(board:$b, id:$id, reason:$r){ id } }";
  const done = await act(`${approve ? "Approved" : "Rejected"} ${q.player}'s ${q.score} on ${board}`,
    admin(query, { b: board, id: q.id, r: reason }));
  if (done) await loadQuarantine();
}

// --- replication, snapshots, regions, conflicts ---------------------------------------------------
async function replication(action) {
  const doc = await act(action === "status" ? "Replication status" : `Replication: ${action}`,
    (cred) => rest(action === "status" ? "GET" : "POST", `/v1/admin/replication/${action}`, cred));
  if (doc) $("replication-status").textContent = Object.entries(doc).map(([k, v]) => `${k}: ${v}`).join(" · ");
}

async function loadSnapshots() {
  const board = $("sf-board").value;
  const data = await act(`Loaded the snapshots of ${board}`,
    admin("query($b:String!){ snapshots(board:$b, first:20){ takenAt season totalCount } }", { b: board }));
  if (!data) return;
  $("snapshots-list").replaceChildren(...data.snapshots.map((s) => h("li", {},
    `${new Date(s.takenAt).toLocaleString()} · season ${s.season} · ${fmt.format(s.totalCount)} entries`)));
  if (data.snapshots.length === 0) $("snapshots-list").append(h("li", {}, "No snapshots yet."));
}

// Runs a long admin action with a visible progress bar and elapsed time; reports the result.
async function withProgress(label, fn) {
  const bar = $("sf-progress"), result = $("sf-result");
  const started = performance.now();
  bar.hidden = false;
  for (const b of ["sf-take", "sf-rebuild"]) $(b).disabled = true;
  result.textContent = `${label}…`;
  const timer = setInterval(() => { result.textContent = `${label}… ${((performance.now() - started) / 1000).toFixed(1)} s`; }, 200);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
    bar.hidden = true;
    for (const b of ["sf-take", "sf-rebuild"]) $(b).disabled = false;
  }
}

async function takeSnapshot() {
  const board = $("sf-board").value;
  const data = await withProgress(`Taking a snapshot of ${board}`, () => act(`Took a snapshot of ${board}`,
    admin("mutation($b:String!){ takeSnapshot(board:$b){ season takenAt totalCount } }", { b: board })));
  if (!data) { $("sf-result").textContent = "Snapshot failed."; return; }
  const s = data.takeSnapshot;
  $("sf-result").dataset.state = "ok";
  $("sf-result").textContent = `Snapshot of ${board}: ${fmt.format(s.totalCount)} entries, season ${s.season}, at ${new Date(s.takenAt).toLocaleString()}`;
  await loadSnapshots();
}

async function rebuild() {
  const board = $("sf-board").value;
  if (!confirm(`Rebuild ${board} from the warm store? Its writes are refused (clients retry) until it is done.`)) return;
  const data = await withProgress(`Rebuilding ${board}`, () => act(`Rebuilt ${board}`,
    admin("mutation($b:String!){ rebuildBoard(board:$b){ season entries tookMs backlogRows verified differences } }", { b: board })));
  if (!data) { $("sf-result").textContent = "Rebuild failed."; return; }
  const r = data.rebuildBoard;
  $("sf-result").dataset.state = r.verified ? "ok" : "error";
  $("sf-result").textContent = `Rebuilt ${board} season ${r.season}: ${fmt.format(r.entries)} entries in ${fmt.format(r.tookMs)} ms` +
    ` (${fmt.format(r.backlogRows)} from the backlog) · ${r.verified ? "verified" : `${fmt.format(r.differences)} differences`}`;
}

// --- webhooks ---------------------------------------------------------------------------------------
const names = (text) => text.split(",").map((t) => t.trim()).filter(Boolean);

async function loadWebhooks() {
  const doc = await act("Loaded the webhooks", (cred) => rest("GET", "/v1/admin/webhooks/status", cred));
  if (!doc) return;
  const t = doc.totals;
  $("wh-totals").textContent = `routed ${fmt.format(t.routed)} · delivered ${fmt.format(t.delivered)} · failed attempts ${fmt.format(t.failed_attempts)} · dead-lettered ${fmt.format(t.dead_lettered)}`;
  $("webhooks-list").replaceChildren(...doc.webhooks.map((w) => h("li", { "data-endpoint": w.id, "data-breaker": w.breaker },
    h("span", {}, h("strong", {}, w.id), " ", h("span", { class: "mono" }, w.url),
      ` · ${w.events.length ? w.events.join(", ") : "all events"} · ${w.boards.length ? w.boards.join(", ") : "all boards"}`,
      h("br"), h("span", { class: "delivery" }, `delivered ${w.delivered} · queued ${w.queued} · failed attempts ${w.failed_attempts} · dead-lettered ${w.dead_lettered}`),
      w.last_error ? ` · last error: ${w.last_error}` : "", " ",
      h("span", { class: w.breaker === "closed" ? "badge badge-live" : "badge badge-stale" }, w.breaker.toUpperCase())),
    h("button", { type: "button", class: "danger", "aria-label": `Delete webhook ${w.id}`, onclick: () => deleteWebhook(w.id) }, "Delete"))));
  if (doc.webhooks.length === 0) $("webhooks-list").append(h("li", {}, "No webhook endpoints."));
}

async function saveWebhook() {
  const body = { id: $("wh-id").value.trim(), url: $("wh-url").value.trim(), secret: $("wh-secret").value,
    events: names($("wh-events").value), boards: names($("wh-boards").value) };
  const done = await act(`Registered webhook ${body.id}`, (cred) => rest("POST", "/v1/admin/webhooks", cred, body));
  if (done) { $("wh-secret").value = ""; await loadWebhooks(); }
}

async function deleteWebhook(id) {
  if (!confirm(`Delete the webhook endpoint ${id}?`)) return;
  if (await act(`Deleted webhook ${id}`, (cred) => rest("DELETE", `/v1/admin/webhooks/${encodeURIComponent(id)}`, cred))) await loadWebhooks();
}

async function loadDeadLetters() {
  const doc = await act("Loaded the dead letters", (cred) => rest("GET", "/v1/admin/webhooks/dead-letters?first=100", cred));
  if (!doc) return;
  $("dead-list").replaceChildren(...doc.dead_letters.map((d) => h("li", { "data-id": d.id, "data-endpoint": d.endpoint },
    h("span", {}, h("strong", {}, d.endpoint), ` ${d.notification.kind} · ${d.notification.board} · ${d.notification.player || ""} · ${d.error} · ${new Date(d.at_ms).toLocaleString()}`),
    h("button", { type: "button", "aria-label": `Replay dead letter ${d.id} to ${d.endpoint}`, onclick: () => replay(d.id) }, "Replay"))));
  if (doc.dead_letters.length === 0) $("dead-list").append(h("li", {}, "No dead letters."));
}

async function replay(id) {
  if (await act(`Replayed dead letter ${id}`, (cred) => rest("POST", `/v1/admin/webhooks/dead-letters/${encodeURIComponent(id)}/replay`, cred))) {
    await loadDeadLetters();
    await loadWebhooks();
  }
}

async function loadRegions() {
  const doc = await rest("GET", "/v1/regions");
  $("regions-list").replaceChildren(...doc.regions.map((r) => h("li", { "data-region": r.region, "data-stale": String(r.stale) },
    h("strong", {}, r.region), ` lag ${fmt.format(r.lag_ms)} ms · last contact ${timeText(r.last_contact_ms)} · ${fmt.format(r.changes_received)} changes `,
    h("span", { class: r.stale ? "badge badge-stale" : "badge badge-live" }, r.stale ? "STALE" : "LIVE"))));
}

async function loadConflicts() {
  const board = $("cf-board").value;
  const doc = await act(`Loaded the conflict log of ${board}`, (cred) => rest("GET", `/v1/admin/conflicts?board=${encodeURIComponent(board)}&limit=100`, cred));
  if (!doc) return;
  $("conflicts-count").textContent = `${fmt.format(doc.count)} conflicts on ${board}`;
  $("conflicts-list").replaceChildren(...doc.conflicts.map((c) => h("li", { class: "mono" }, JSON.stringify(c))));
}

// --- audit log ------------------------------------------------------------------------------------
async function loadAudit() {
  if (!adminCredential()) return;
  try {
    const data = await gql("query { auditLog(first:50){ at who action detail } }", {}, adminCredential());
    $("audit-list").replaceChildren(...data.auditLog.map((a) => h("li", { "data-action": a.action },
      h("span", {}, h("strong", {}, a.action), ` by ${a.who} at ${new Date(a.at).toLocaleString()}`),
      h("span", { class: "mono" }, JSON.stringify(a.detail)))));
    if (data.auditLog.length === 0) $("audit-list").append(h("li", {}, "No admin actions yet."));
  } catch (err) {
    $("audit-list").replaceChildren(h("li", {}, `Audit log unavailable: ${err.message}`));
  }
}

// --- wiring ---------------------------------------------------------------------------------------
function on(id, event, fn) { $(id).addEventListener(event, fn); }
function onSubmit(id, fn) { on(id, "submit", (e) => { e.preventDefault(); fn(); }); }

onSubmit("auth-form", () => {
  setAdminCredential($("credential").value.trim());
  $("credential").value = "";
  say("Credential kept for this tab.", "ok");
  refreshAll();
});
on("sign-out", "click", () => { setAdminCredential(""); say("Credential forgotten."); });
if (tier === "region") {
  onSubmit("board-form", () => saveBoard("createBoard", "Created"));
  on("bf-update", "click", () => saveBoard("updateBoard", "Saved"));
  on("pf-ban", "click", playerAction("banPlayer", "Banned", true));
  on("pf-unban", "click", playerAction("unbanPlayer", "Unbanned", false));
  on("pf-delete", "click", playerAction("deletePlayer", "Deleted the entry of", true));
  onSubmit("quarantine-form", loadQuarantine);
  onSubmit("snapshots-form", loadSnapshots);
  onSubmit("edit-form", editScore);
  on("sf-take", "click", takeSnapshot);
  on("sf-rebuild", "click", rebuild);
  on("wh-refresh", "click", loadWebhooks);
  onSubmit("wh-form", saveWebhook);
  on("dead-refresh", "click", loadDeadLetters);
  on("rep-refresh", "click", () => replication("status"));
  on("rep-pause", "click", () => replication("pause"));
  on("rep-resume", "click", () => replication("resume"));
  on("rep-repair", "click", () => replication("repair"));
  on("audit-refresh", "click", loadAudit);
} else {
  on("regions-refresh", "click", () => loadRegions().catch((err) => say(err.message, "error")));
  onSubmit("conflicts-form", loadConflicts);
}

function refreshAll() {
  loadBoards().catch((err) => say(`Could not list boards: ${err.message}`, "error"));
  if (tier === "region") loadAudit();
  else loadRegions().catch((err) => say(err.message, "error"));
}
if (adminCredential()) say("Using the credential kept in this tab.");
refreshAll();
