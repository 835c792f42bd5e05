// The maintained graphql-transport-ws client, as one ES module for the pages.
export { createClient } from "graphql-ws";
