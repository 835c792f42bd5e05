// GraphiQL served by Podium itself: HTTP for queries and mutations, graphql-transport-ws for
// subscriptions, both on this origin's /graphql. An admin key or token is typed into GraphiQL's
// headers tab; nothing is stored in cookies.
import React from "react";
import { createRoot } from "react-dom/client";
import { GraphiQL } from "graphiql";
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { createClient } from "graphql-ws";
import "graphiql/graphiql.css";

const http = new URL("/graphql", window.location.href);
const ws = new URL(http);
ws.protocol = http.protocol === "https:" ? "wss:" : "ws:";

const fetcher = createGraphiQLFetcher({
  url: http.href,
  wsClient: createClient({ url: ws.href, lazy: true }),
});
createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true }),
);
