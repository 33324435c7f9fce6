// Runs against a casebridge service started with `serve --demo` (see .ci/typescript):
// CASEBRIDGE_URL is where it listens, CASEBRIDGE_DEMO_PASSWORD the demo accounts' password.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Casebridge, OAuthError, ProblemError, unwrap } from "../src/index.js";

const baseUrl = required("CASEBRIDGE_URL");
const password = required("CASEBRIDGE_DEMO_PASSWORD");

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} must be set: the tests run against a running service`);
  }
  return value;
}

async function loggedIn(username: string): Promise<Casebridge> {
  const casebridge = new Casebridge({ baseUrl });
  await casebridge.login(username, password);
  return casebridge;
}

async function problemOf(promise: Promise<unknown>): Promise<ProblemError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ProblemError, `a problem, not ${String(error)}`);
    return error;
  }
  assert.fail("expected a problem");
}

test("a caseworker lists clients through the typed client", async () => {
  const casebridge = await loggedIn("caseworker");
  const page = unwrap(await casebridge.api.GET("/api/v1/clients", { params: { query: { limit: 5 } } }));
  assert.ok(page.items.length > 0 && page.items.length <= 5);
  for (const client of page.items) {
    assert.match(client.id ?? "", /^[0-9a-f-]{36}$/);
  }
});

test("a wrong password is a problem with its code and the request id", async () => {
  const casebridge = new Casebridge({ baseUrl });
  const problem = await problemOf(casebridge.login("caseworker", "not the password at all"));
  assert.equal(problem.status, 401);
  assert.equal(problem.code, "invalid_credentials");
  assert.match(problem.requestId ?? "", /^[0-9a-f-]{36}$/);
  assert.equal(casebridge.session, null);
});

test("a CSP worker does not find a client outside its allocations", async () => {
  const department = await loggedIn("caseworker");
  const csp = await loggedIn("csp-east");
  const clients = unwrap(await department.api.GET("/api/v1/clients", { params: { query: { limit: 200 } } }));
  const theirs = unwrap(await csp.api.GET("/api/v1/clients", { params: { query: { limit: 200 } } }));
  const reachable = new Set(theirs.items.map((client) => client.id));
  const other = clients.items.find((client) => !reachable.has(client.id));
  assert.ok(other?.id, "the department sees a client the CSP does not");
  const problem = await problemOf(
    csp.api.GET("/api/v1/clients/{id}", { params: { path: { id: other.id } } }).then(unwrap),
  );
  assert.equal(problem.status, 404);
  assert.equal(problem.code, "not_found");
});

test("a change without If-Match is refused with 428, a stale one with 412", async () => {
  const casebridge = await loggedIn("caseworker");
  const [client] = unwrap(await casebridge.api.GET("/api/v1/clients", { params: { query: { limit: 1 } } })).items;
  assert.ok(client?.id);
  const path = { id: client.id };
  // The types require If-Match; a client that sends none anyway (plain fetch) gets 428.
  const forgot = await fetch(`${baseUrl}/api/v1/clients/${client.id}`, {
    method: "PATCH",
    headers: {
      Authorization: `Bearer ${casebridge.session?.accessToken ?? ""}`,
      "Content-Type": "application/json",
    },
    body: JSON.stringify({ phone: "0400111222" }),
  });
  assert.equal(forgot.status, 428);
  assert.equal(((await forgot.json()) as { code: string }).code, "if_match_required");
  const stale = await problemOf(
    casebridge.api
      .PATCH("/api/v1/clients/{id}", {
        params: { path, header: { "If-Match": '"0"' } },
        body: { phone: "0400111222" },
      })
      .then(unwrap),
  );
  assert.equal(stale.status, 412);
  assert.equal(stale.code, "version_mismatch");
});

test("an access token about to expire is refreshed once, however many requests ask", async () => {
  let clock = Date.now();
  const casebridge = new Casebridge({ baseUrl, now: () => clock });
  const first = await casebridge.login("caseworker", password);
  clock = first.expiresAt; // due now
  const answers = await Promise.all(
    [1, 2, 3].map(() => casebridge.api.GET("/api/v1/me").then(unwrap)),
  );
  assert.equal(answers.length, 3);
  const second = casebridge.session;
  assert.ok(second && second.refreshToken !== first.refreshToken);
  assert.ok(second.expiresAt > first.expiresAt);
});

test("a refresh token used twice is refused and ends the session", async () => {
  const casebridge = await loggedIn("caseworker");
  const stolen = casebridge.session?.refreshToken ?? "";
  await casebridge.refresh();
  const replay = new Casebridge({ baseUrl });
  const problem = await problemOf(
    replay.api.POST("/api/v1/auth/refresh", { body: { refresh_token: stolen } }).then(unwrap),
  );
  assert.equal(problem.status, 401);
  const ended = await problemOf(casebridge.api.GET("/api/v1/me").then(unwrap));
  assert.equal(ended.status, 401);
});

test("a refused refresh forgets the session instead of spending its token again", async () => {
  const casebridge = await loggedIn("caseworker");
  const stolen = casebridge.session?.refreshToken ?? "";
  await casebridge.refresh();
  const replay = new Casebridge({ baseUrl });
  await problemOf(
    replay.api.POST("/api/v1/auth/refresh", { body: { refresh_token: stolen } }).then(unwrap),
  );
  const refused = await problemOf(casebridge.refresh());
  assert.equal(refused.status, 401);
  assert.equal(casebridge.session, null, "log in again");
});

test("a CSP system logs in with client credentials and sees what its CSP's workers see", async () => {
  const admin = await loggedIn("admin");
  const organisations = unwrap(await admin.api.GET("/api/v1/organisations", { params: { query: { limit: 200 } } }));
  const northside = organisations.items.find((organisation) => organisation.name === "Northside Community Care");
  assert.ok(northside?.id);
  const registered = unwrap(
    await admin.api.POST("/api/v1/api-clients", {
      body: {
        organisation_id: northside.id,
        name: `Northside case system ${Date.now()}`,
        roles: ["csp_worker"],
        clearance: "OFFICIAL: Sensitive",
      },
    }),
  );
  assert.ok(registered.id && registered.client_secret);
  const second = await loggedIn("admin2");
  unwrap(await second.api.POST("/api/v1/users/{id}/approve", { params: { path: { id: registered.id } } }));

  const system = new Casebridge({ baseUrl });
  await system.loginAsSystem(registered.id, registered.client_secret);
  const seen = unwrap(await system.api.GET("/api/v1/clients", { params: { query: { limit: 200 } } }));
  const worker = await loggedIn("csp-north");
  const workers = unwrap(await worker.api.GET("/api/v1/clients", { params: { query: { limit: 200 } } }));
  assert.deepEqual(
    seen.items.map((client) => client.id).sort(),
    workers.items.map((client) => client.id).sort(),
  );

  const refused = await new Casebridge({ baseUrl })
    .loginAsSystem(registered.id, "not the secret")
    .then(
      () => assert.fail("a wrong secret is refused"),
      (error: unknown) => error,
    );
  assert.ok(refused instanceof OAuthError);
  assert.equal(refused.error, "invalid_client");
  assert.equal(refused.status, 401);
});
