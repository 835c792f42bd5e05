// The live page's contest and trending panels (regions only): a contest's top entries over the
// contestChanged subscription and a stream's top items over trendingChanged. URL state:
// ?contest=…&stream=…&window=… next to the board's.
import { fmt, gql, h, subscribe, tier, timeText } from "./gql.js";

const $ = (id) => document.getElementById(id);
const TOP_N = 10;
const POINTS_SCALE = 10000;   // contest scores are points × 10,000 on the wire
const WINDOWS = ["1h", "1d", "7d"];

const CONTEST_SUB = "subscription($c:String!,$n:Int!){ contestChanged(contest:$c, n:$n){ seq full asOf entries { rank player score } changes { kind player rank score } } }";
const TRENDING_SUB = "subscription($s:String!,$w:String!,$k:Int!){ trendingChanged(stream:$s, window:$w, k:$k){ seq full asOf items { rank item count } changes { kind item rank count } } }";

function setParam(name, value) {
  const url = new URL(location.href);
  if (value) url.searchParams.set(name, value); else url.searchParams.delete(name);
  history.replaceState(null, "", url.pathname + url.search);
}

function setStatus(id, text, kind = "") {
  $(id).textContent = text;
  $(id).dataset.state = kind;
}

// One live top-N table fed by a top/changes subscription: `key` names the row's id field.
function liveTable(tableId, key, value, format) {
  let rows = new Map();
  return {
    reset() { rows = new Map(); this.render(); },
    apply(msg, list, changes) {
      if (msg.full) rows = new Map();
      for (const e of list) rows.set(e[key], { id: e[key], rank: e.rank, value: e[value] });
      for (const c of changes) {
        if (c.kind === "LEFT" || c.rank === null) { rows.delete(c[key]); continue; }
        const row = rows.get(c[key]) || { id: c[key] };
        row.rank = c.rank;
        if (c[value] !== null && c[value] !== undefined) row.value = c[value];
        rows.set(c[key], row);
      }
      this.render();
      $(tableId).dataset.seq = String(msg.seq);
    },
    render() {
      const sorted = [...rows.values()].filter((r) => r.rank <= TOP_N).sort((a, b) => a.rank - b.rank);
      const body = $(tableId).querySelector("tbody");
      body.replaceChildren(...sorted.map((r) => h("tr", { "data-id": r.id, "data-rank": r.rank },
        h("td", { class: "rank" }, `#${r.rank}`), h("td", { class: "player" }, r.id),
        h("td", { class: "num" }, r.value === undefined ? "—" : format(r.value)))));
      if (sorted.length === 0) body.append(h("tr", {}, h("td", { colspan: 3 }, "No entries yet")));
    },
  };
}

const params = new URLSearchParams(location.search);
const contestTable = liveTable("contest-top", "player", "score", (v) => fmt.format(v / POINTS_SCALE));
const trendingTable = liveTable("trending-top", "item", "count", (v) => fmt.format(v));
let stopContest = null, stopTrending = null, contestStates = new Map();

function watchContest(id) {
  if (stopContest) stopContest();
  contestTable.reset();
  setParam("contest", id);
  if (!id) return;
  $("contest-caption").textContent = `Top ${TOP_N} entries of ${id}`;
  setStatus("contest-status", `${id} · ${contestStates.get(id) || ""} · connecting…`);
  stopContest = subscribe(CONTEST_SUB, { c: id, n: TOP_N }, {
    onData: (data) => {
      const msg = data.contestChanged;
      contestTable.apply(msg, msg.entries, msg.changes);
      setStatus("contest-status", `${id} · ${contestStates.get(id) || ""} · live as of ${timeText(msg.asOf)}`, "live");
    },
    onError: (err) => setStatus("contest-status", `Contest updates stopped: ${err.message}`, "error"),
  });
}

function watchTrending(stream, window) {
  if (stopTrending) stopTrending();
  trendingTable.reset();
  setParam("stream", stream);
  setParam("window", window === "1h" ? "" : window);
  if (!stream) return;
  $("trending-caption").textContent = `Top ${TOP_N} items of ${stream} over the last ${$("window").selectedOptions[0].textContent}`;
  setStatus("trending-status", `${stream} · connecting…`);
  stopTrending = subscribe(TRENDING_SUB, { s: stream, w: window, k: TOP_N }, {
    onData: (data) => {
      const msg = data.trendingChanged;
      trendingTable.apply(msg, msg.items, msg.changes);
      setStatus("trending-status", `${stream} · live as of ${timeText(msg.asOf)}`, "live");
    },
    onError: (err) => setStatus("trending-status", `Trending updates stopped: ${err.message}`, "error"),
  });
}

async function fill(selectId, ids, wanted) {
  const select = $(selectId);
  select.replaceChildren(...ids.map((id) => h("option", { value: id }, id)));
  if (ids.length === 0) return "";
  const chosen = ids.includes(wanted) ? wanted : ids[0];
  select.value = chosen;
  return chosen;
}

async function start() {
  if (tier !== "region") return;
  try {
    const data = await gql("query { contests(first: 50) { id state } }");
    contestStates = new Map(data.contests.map((c) => [c.id, c.state]));
    const chosen = await fill("contest", data.contests.map((c) => c.id), params.get("contest"));
    if (chosen) watchContest(chosen);
  } catch (err) {
    setStatus("contest-status", `Contests unavailable: ${err.message}`);
  }
  try {
    const data = await gql("query { trendingStreams }");
    const window = WINDOWS.includes(params.get("window")) ? params.get("window") : "1h";
    $("window").value = window;
    const chosen = await fill("stream", data.trendingStreams, params.get("stream"));
    if (chosen) watchTrending(chosen, window);
  } catch (err) {
    setStatus("trending-status", `Trending unavailable: ${err.message}`);
  }
}

$("contest").addEventListener("change", (e) => watchContest(e.target.value));
$("stream").addEventListener("change", (e) => watchTrending(e.target.value, $("window").value));
$("window").addEventListener("change", (e) => watchTrending($("stream").value, e.target.value));
start();
