// Builds the vendored browser assets that Podium serves itself (committed under
// podium/web/static/vendor, so installing Podium needs no npm) and the test-only axe-core copy.
// Run: npm ci && npm run build
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";

const vendor = "../podium/web/static/vendor";
mkdirSync(vendor, { recursive: true });
const common = { bundle: true, minify: true, legalComments: "linked", target: "es2020", logLevel: "warning" };

await build({ ...common, entryPoints: ["src/graphql-ws-entry.js"], format: "esm", outfile: `${vendor}/graphql-ws.js` });
await build({
  ...common,
  entryPoints: ["src/graphiql-entry.jsx"],
  format: "iife",
  outfile: `${vendor}/graphiql.js`,
  define: { "process.env.NODE_ENV": '"production"' },
  jsx: "transform",
});
mkdirSync("../tests/web/vendor", { recursive: true });
copyFileSync("node_modules/axe-core/axe.min.js", "../tests/web/vendor/axe.min.js");
