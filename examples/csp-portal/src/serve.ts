/**
 * Serves the portal's static files (`public/`) on its own origin, with no dependency: the
 * portal is a separate single-page app and the API is elsewhere, which is what CORS is for.
 *
 *     node dist/src/serve.js [port]      (default 8081, on 127.0.0.1)
 */
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** public/, from dist/src/serve.js or src/serve.ts alike. */
const ROOT = fileURLToPath(new URL("../../public/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
};

/** Starts serving on `port` of `host`; resolves once it listens. */
export function servePortal(port: number, host = "127.0.0.1"): Promise<Server> {
  const server = createServer((request, response) => {
    void (async () => {
      const path = new URL(request.url ?? "/", "http://portal.invalid").pathname;
      const file = normalize(join(ROOT, path === "/" ? "index.html" : decodeURIComponent(path)));
      // Nothing outside public/ is served, whatever the path says.
      const type = TYPES[extname(file)];
      if (!file.startsWith(ROOT.endsWith(sep) ? ROOT : ROOT + sep) || type === undefined || request.method !== "GET") {
        response.writeHead(404).end();
        return;
      }
      try {
        const body = await readFile(file);
        response.writeHead(200, {
          "Content-Type": type,
          "Cache-Control": "no-store",
          "X-Content-Type-Options": "nosniff",
          // Scripts and styles from this origin only; the page may call any service it is
          // pointed at (?api=), and whether it gets an answer is the service's CORS decision.
          "Content-Security-Policy": "default-src 'self'; connect-src *; frame-ancestors 'none'",
        });
        response.end(body);
      } catch {
        response.writeHead(404).end();
      }
    })();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] ?? 8081);
  await servePortal(port);
  console.log(`The portal is at http://127.0.0.1:${port}/ (add ?api=URL for a service elsewhere than http://127.0.0.1:8080)`);
}
