// The live leaderboard page: a board's top-N over the topChanged subscription, "find me" with the
// player's neighbourhood followed live, a rank sparkline, and on the global tier precision badges
// and each region's replication lag. URL state: ?board=…&n=…&player=…
import { adminCredential, fmt, gql, h, playerToken, setPlayerToken, subscribe, tier, timeText } from "./gql.js";
import { drawSparkline } from "./sparkline.js";

const $ = (id) => document.getElementById(id);
const SIZES = [10, 25, 50];
const REGIONS_REFRESH_MS = 2000;   // region status has no subscription: refreshed on a timer
const BOARDS_REFRESH_MS = 5000;    // boards have no subscription either
const params = new URLSearchParams(location.search);
const state = {
  board: params.get("board") || "",
  size: SIZES.includes(Number(params.get("n"))) ? Number(params.get("n")) : 10,
  player: (params.get("player") || "").trim(),
  rows: new Map(),
  stopTop: null,
  stopMe: null,
  followedByTop: false,
  spark: [],
  meRank: null,
  meBusy: false,
  meAgain: false,
};

const TOP = {
  region: "subscription($b:String!,$n:Int!){ topChanged(board:$b, n:$n){ seq full asOf entries { rank player score } changes { kind player rank score } } }",
  global: "subscription($b:String!,$n:Int!){ topChanged(board:$b, n:$n){ seq full asOf entries { rank player score precision errorBound } changes { kind player rank score } } }",
};
const ME = {
  region: "query($b:String!,$p:String!){ around(board:$b, player:$p, above:3, below:3){ rank player score } }",
  global: "query($b:String!,$p:String!){ player(id:$p){ entry(board:$b){ rank score precision errorBound asOf } } around(board:$b, player:$p, above:3, below:3){ rank player score precision errorBound } }",
};
const RANK_SUB = "subscription($b:String!,$p:String!){ rankChanged(board:$b, player:$p){ rank score asOf } }";
const HISTORY = "query($b:String!,$p:String!){ rankHistory(board:$b, player:$p, first:50){ takenAt rank } }";
const REGIONS = "query($b:String!){ regions { region stale lagMs lastContact changesReceived } leaderboard(board:$b, first:1, allowStale:true){ asOf stale } }";

function syncUrl() {
  const p = new URLSearchParams(location.search);   // keeps the contest and trending panels' state
  for (const [k, v] of [["board", state.board], ["n", state.size !== 10 ? String(state.size) : ""], ["player", state.player]]) {
    if (v) p.set(k, v); else p.delete(k);
  }
  const query = p.toString();
  history.replaceState(null, "", query ? `${location.pathname}?${query}` : location.pathname);
}

function setStatus(id, text, kind = "") {
  const node = $(id);
  node.textContent = text;
  node.dataset.state = kind;
}

function badge(precision, bound) {
  const label = precision === "EXACT" ? "EXACT" : `${precision} ±${fmt.format(bound || 0)}`;
  const title = precision === "EXACT" ? "exact rank" : `rank within ±${bound} of the true rank`;
  return h("span", { class: `badge badge-${String(precision).toLowerCase()}`, title }, label);
}

function rankRow(row, flash) {
  const cells = [
    h("td", { class: "rank" }, `#${row.rank}`),
    h("td", { class: "player" }, row.player),
    h("td", { class: "num" }, row.score === undefined || row.score === null ? "—" : fmt.format(row.score)),
  ];
  if (tier === "global") cells.push(h("td", {}, badge(row.precision || "EXACT", row.errorBound)));
  const cls = [flash ? `flash-${flash}` : "", row.player === state.player ? "me" : ""].join(" ").trim();
  return h("tr", { "data-player": row.player, "data-rank": row.rank, class: cls || null }, cells);
}

function renderTop(flashes) {
  const rows = [...state.rows.values()].filter((r) => r.rank <= state.size).sort((a, b) => a.rank - b.rank);
  const body = $("top").querySelector("tbody");
  body.replaceChildren(...rows.map((r) => rankRow(r, flashes.get(r.player))));
  if (rows.length === 0) body.append(h("tr", {}, h("td", { colspan: tier === "global" ? 4 : 3 }, "No entries yet")));
  $("top-caption").textContent = `Top ${state.size} of ${state.board || "—"}`;
}

function onTop(msg) {
  const flashes = new Map();
  if (msg.full) state.rows = new Map();
  for (const e of msg.entries) state.rows.set(e.player, { ...e });
  for (const c of msg.changes) {
    if (c.kind === "LEFT" || c.rank === null) {
      state.rows.delete(c.player);
      continue;
    }
    const row = state.rows.get(c.player) || { player: c.player, precision: "EXACT", errorBound: 0 };
    const move = row.rank === undefined ? "new" : c.rank < row.rank ? "up" : c.rank > row.rank ? "down" : "changed";
    flashes.set(c.player, move);
    row.rank = c.rank;
    if (c.score !== null && c.score !== undefined) row.score = c.score;
    state.rows.set(c.player, row);
  }
  renderTop(flashes);
  $("top").dataset.seq = String(msg.seq);
  setStatus("live-status", `Live · as of ${timeText(msg.asOf)}`, "live");
  if (state.player && state.followedByTop && !msg.full) refreshMe();
}

function watchTop() {
  if (state.stopTop) state.stopTop();
  state.rows = new Map();
  renderTop(new Map());
  if (!state.board) return;
  setStatus("live-status", "Connecting…", "");
  state.stopTop = subscribe(TOP[tier], { b: state.board, n: state.size }, {
    onData: (data) => onTop(data.topChanged),
    onError: (err) => setStatus("live-status", `Live updates stopped: ${err.message}`, "error"),
  });
}

function pushSpark(rank) {
  if (rank === null || rank === undefined) return;
  const last = state.spark[state.spark.length - 1];
  if (last && last.rank === rank) return;
  state.spark.push({ t: Date.now(), rank });
  drawSpark();
}

function drawSpark() {
  $("spark-figure").hidden = state.spark.length === 0;
  drawSparkline($("spark"), state.spark);
  const ranks = state.spark.map((p) => p.rank);
  $("spark-caption").textContent = ranks.length
    ? `Rank history of ${state.player}: best #${Math.min(...ranks)}, now #${ranks[ranks.length - 1]} (${ranks.length} points)`
    : "Rank history";
}

async function refreshMe() {
  if (state.meBusy) { state.meAgain = true; return; }
  state.meBusy = true;
  try {
    do {
      state.meAgain = false;
      await loadMe();
    } while (state.meAgain);
  } finally {
    state.meBusy = false;
  }
}

async function loadMe() {
  const player = state.player, board = state.board;
  if (!player || !board) return;
  let data;
  try {
    data = await gql(ME[tier], { b: board, p: player });
  } catch (err) {
    setStatus("me-status", `Could not look up ${player}: ${err.message}`, "error");
    return;
  }
  if (player !== state.player || board !== state.board) return;
  const around = data.around || [];
  const entry = tier === "global" ? data.player.entry : around.find((r) => r.player === player);
  const table = $("around");
  table.querySelector("tbody").replaceChildren(...around.map((r) => rankRow(r, null)));
  table.hidden = around.length === 0;
  if (!entry) {
    setStatus("me-status", `${player} has no entry on ${board} yet.`, "missing");
    $("me-status").dataset.rank = "";
    return;
  }
  const status = $("me-status");
  status.replaceChildren(`${player} is #${fmt.format(entry.rank)} with ${fmt.format(entry.score)}`);
  if (tier === "global") status.append(" ", badge(entry.precision, entry.errorBound));
  status.dataset.state = "found";
  status.dataset.rank = String(entry.rank);
  state.meRank = entry.rank;
  pushSpark(entry.rank);
}

async function loadHistory() {
  if (tier !== "region") return;
  try {
    const data = await gql(HISTORY, { b: state.board, p: state.player });
    const points = data.rankHistory.filter((p) => p.rank !== null).reverse().map((p) => ({ t: p.takenAt, rank: p.rank }));
    state.spark = points.concat(state.spark);
    drawSpark();
  } catch {
    // no warm store or no snapshots: the sparkline starts with the live points
  }
}

async function findMe() {
  if (state.stopMe) { state.stopMe(); state.stopMe = null; }
  state.spark = [];
  state.meRank = null;
  drawSpark();
  syncUrl();
  renderTop(new Map());
  if (!state.player) {
    $("around").hidden = true;
    setStatus("me-status", "Type a player id to see their rank and neighbours.");
    return;
  }
  setStatus("me-status", `Looking up ${state.player}…`);
  await loadHistory();
  await refreshMe();
  const credential = tier === "region" ? playerToken() || adminCredential() : "";
  state.followedByTop = tier === "region" && !credential;
  if (tier === "global" || credential) {
    state.stopMe = subscribe(RANK_SUB, { b: state.board, p: state.player }, {
      credential,
      onData: () => refreshMe(),
      onError: (err) => {
        // e.g. a token for another player: fall back to following through the board's updates
        state.followedByTop = true;
        $("me-title").dataset.follow = `top (${err.code || "error"})`;
      },
    });
  }
  $("me-title").dataset.follow = state.followedByTop ? "top" : "rank";
}

async function refreshRegions() {
  if (!state.board) return;
  try {
    const data = await gql(REGIONS, { b: state.board });
    const body = $("regions").querySelector("tbody");
    body.replaceChildren(...data.regions.map((r) => h("tr", { "data-region": r.region, "data-stale": String(r.stale) },
      h("td", { class: "player" }, r.region),
      h("td", { class: "num" }, `${fmt.format(r.lagMs)} ms`),
      h("td", {}, timeText(r.lastContact)),
      h("td", {}, h("span", { class: r.stale ? "badge badge-stale" : "badge badge-live" }, r.stale ? "STALE" : "LIVE")))));
    const lb = data.leaderboard;
    $("as-of").textContent = `As of ${timeText(lb.asOf)}${lb.stale ? " · some regions are stale" : ""}`;
  } catch (err) {
    $("as-of").textContent = `Region status unavailable: ${err.message}`;
  }
}

// The board the URL asked for, until the user picks another: a board that reaches this tier after
// the page loaded (a new board, or the global tier before its first merge) is switched to when it appears.
let wantedBoard = state.board;

function startWatching() {
  syncUrl();
  watchTop();
  if (state.player) findMe();
}

async function refreshBoards() {
  const data = await gql("query { boards { id publicRead } }");
  const select = $("board");
  const known = (id) => data.boards.some((b) => b.id === id);
  const listed = data.boards.map((b) => `${b.id}\u0000${b.publicRead}`).join("\u0001");
  if (select.dataset.listed !== listed) {   // an open drop-down is left alone while nothing changed
    select.dataset.listed = listed;
    select.replaceChildren(...data.boards.map((b) => h("option", { value: b.id }, b.publicRead ? b.id : `${b.id} (private)`)));
  }
  if (data.boards.length === 0) { setStatus("live-status", "No boards yet: create one in the console."); return; }
  const watching = Boolean(state.stopTop) && known(state.board);
  const next = known(wantedBoard) ? wantedBoard : watching ? state.board : data.boards[0].id;
  select.value = next;
  if (next !== state.board || !watching) {
    state.board = next;
    startWatching();
  }
}

async function start() {
  $("size").value = String(state.size);
  $("player").value = state.player;
  try {
    await refreshBoards();
  } catch (err) {
    setStatus("live-status", `Could not list boards: ${err.message}`, "error");
  }
  setInterval(() => refreshBoards().catch(() => {}), BOARDS_REFRESH_MS);   // keep the list we have on a failure
  if (tier === "global") { refreshRegions(); setInterval(refreshRegions, REGIONS_REFRESH_MS); }
}

$("board").addEventListener("change", (e) => { state.board = wantedBoard = e.target.value; syncUrl(); watchTop(); findMe(); });
$("size").addEventListener("change", (e) => { state.size = Number(e.target.value); syncUrl(); watchTop(); });
$("find-form").addEventListener("submit", (e) => { e.preventDefault(); state.player = $("player").value.trim(); findMe(); });
$("token-form").addEventListener("submit", (e) => { e.preventDefault(); setPlayerToken($("token").value.trim()); $("token").value = ""; findMe(); });
start();
