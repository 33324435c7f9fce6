// Drives the portal in headless Chromium against a running demo service (see .ci/browser).
// CASEBRIDGE_URL is the service, CASEBRIDGE_DEMO_PASSWORD the demo accounts' password. The
// service must allow http://127.0.0.1:PORTAL_PORT (CASEBRIDGE_CORS_ORIGINS) and not
// http://127.0.0.1:FOREIGN_PORT; the test serves the portal on both. The steps run in order
// on one page, as a person would use it.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import { after, before, test } from "node:test";

import { Casebridge, unwrap, type components } from "@casebridge/client";
import * as OTPAuth from "otpauth";
import { chromium, type Browser, type Page } from "playwright-core";

import { servePortal } from "../src/serve.js";

type ClientRecord = components["schemas"]["ClientRecord"];

const baseUrl = required("CASEBRIDGE_URL");
const password = required("CASEBRIDGE_DEMO_PASSWORD");
const portalPort = Number(required("PORTAL_PORT"));
const foreignPort = Number(required("FOREIGN_PORT"));

/** A CSP worker at Northside, enrolled in TOTP below so that signing in asks for a code. */
const WORKER = "csp-north";
/** Their manager, at the same organisation: a colleague changing a client meanwhile. */
const COLLEAGUE = "csp-north-manager";

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} must be set: the test runs against a running service (see .ci/browser)`);
  }
  return value;
}

function portalAt(port: number): string {
  return `http://127.0.0.1:${port}/?api=${encodeURIComponent(baseUrl)}`;
}

async function loggedIn(username: string): Promise<Casebridge> {
  const casebridge = new Casebridge({ baseUrl });
  await casebridge.login(username, password);
  return casebridge;
}

async function everyClient(casebridge: Casebridge): Promise<ClientRecord[]> {
  const clients: ClientRecord[] = [];
  let cursor: string | null = null;
  do {
    const query: { limit: number; cursor?: string } = cursor === null ? { limit: 200 } : { limit: 200, cursor };
    const page = unwrap(await casebridge.api.GET("/api/v1/clients", { params: { query } }));
    clients.push(...page.items);
    cursor = page.next_cursor ?? null;
  } while (cursor !== null);
  return clients;
}

async function clientAs(casebridge: Casebridge, id: string): Promise<{ record: ClientRecord; etag: string }> {
  const answer = await casebridge.api.GET("/api/v1/clients/{id}", { params: { path: { id } } });
  return { record: unwrap(answer), etag: answer.response.headers.get("etag") ?? "" };
}

function nameOf(client: ClientRecord): string {
  return `${client.given_name} ${client.family_name}`;
}

let browser: Browser;
let page: Page;
let servers: Server[] = [];
let totp: OTPAuth.TOTP;
let colleague: Casebridge;
let department: Casebridge;
/** The client the steps open, as the CSP sees it. */
let target: ClientRecord;

before(async () => {
  // Enrol the worker as they would with an authenticator app; the test is the app.
  const worker = await loggedIn(WORKER);
  const enrolment = await worker.enrolTotp();
  const parsed = OTPAuth.URI.parse(enrolment.otpauth_uri);
  assert.ok(parsed instanceof OTPAuth.TOTP, "the enrolment is a TOTP");
  totp = parsed;
  await worker.confirmTotp(totp.generate());
  await worker.logout();

  colleague = await loggedIn(COLLEAGUE);
  department = await loggedIn("caseworker");
  servers = [await servePortal(portalPort), await servePortal(foreignPort)];
  browser = await chromium.launch({ executablePath: process.env["CHROMIUM"] ?? "/usr/bin/chromium" });
  page = await browser.newPage();
  page.setDefaultTimeout(15_000);
});

after(async () => {
  await browser?.close();
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

/** Waits until the portal has finished what the last click asked for. */
async function settled(on: Page = page): Promise<void> {
  await on.locator("#busy").waitFor({ state: "hidden" });
}

async function problemShown(on: Page = page): Promise<{ sentence: string; requestId: string }> {
  await on.locator("#problem").waitFor({ state: "visible" });
  return {
    sentence: await on.locator("#problem-sentence").innerText(),
    requestId: await on.locator("#problem-request-id").innerText(),
  };
}

test("signing in asks an account enrolled in MFA for its authenticator code", async () => {
  await page.goto(portalAt(portalPort));
  assert.equal(await page.locator("#session-status").innerText(), "Not signed in.");
  const code = page.getByLabel("Code from your authenticator app");
  assert.equal(await code.isVisible(), false, "no code field before the service asks for one");

  await page.getByLabel("Username").fill(WORKER);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await code.waitFor({ state: "visible" });
  assert.match((await problemShown()).sentence, /enter the 6-digit code/);

  // The code of the next time step: the one that confirmed the enrolment is used up.
  await code.fill(totp.generate({ timestamp: Date.now() + 30_000 }));
  await page.getByRole("button", { name: "Sign in" }).click();
  await settled();
  const status = await page.locator("#session-status").innerText();
  assert.match(status, /^Signed in as Nora North \(csp-north, Northside Community Care\)\. Access token expires at \d\d:\d\d:\d\d \(in \d+ s\)/);
  assert.equal(await page.locator("#problem").isVisible(), false);
  assert.equal(await page.locator("#sign-in").isVisible(), false);
});

test("the list shows the clients allocated to the CSP, and no other", async () => {
  const theirs = await everyClient(colleague);
  const everyone = await everyClient(department);
  const shown = await page.locator("#client-list button").allInnerTexts();
  assert.ok(shown.length > 0, "the CSP has clients");
  assert.deepEqual([...shown].sort(), theirs.map(nameOf).sort());
  const reachable = new Set(theirs.map((client) => client.id));
  const outside = everyone.filter((client) => !reachable.has(client.id));
  assert.ok(outside.length > 0, "the department has clients the CSP does not see");
  for (const client of outside) {
    assert.ok(!shown.includes(nameOf(client)), `${nameOf(client)} is not listed`);
  }
  const first = theirs.sort((a, b) => nameOf(a).localeCompare(nameOf(b)))[0];
  assert.ok(first?.id);
  target = first;
});

test("an open client shows the fields the worker may read, and nothing else", async () => {
  const id = target.id ?? "";
  const { record: asCsp } = await clientAs(colleague, id);
  const { record: asDepartment } = await clientAs(department, id);
  await page.getByRole("button", { name: nameOf(target), exact: true }).click();
  await settled();
  assert.equal(await page.locator("#client-name").innerText(), nameOf(target));

  // Exactly the fields the service sent, and so none it masked.
  const shownFields = await page.locator("#client-fields dd").evaluateAll((items) =>
    items.map((item) => (item as HTMLElement).dataset["field"]),
  );
  const sentFields = Object.keys(asCsp).filter((field) => field !== "id");
  assert.deepEqual([...shownFields].sort(), [...sentFields].sort());
  assert.equal(await page.locator('#client-fields dd[data-field="phone"]').innerText(), asCsp.phone);

  // The department reads the Medicare number and the GP; the CSP worker reads neither.
  assert.ok(asDepartment.medicare_number && asDepartment.gp_details, "the department reads them");
  assert.equal(asCsp.medicare_number, undefined);
  const text = await page.locator("#client").innerText();
  assert.ok(!text.includes(asDepartment.medicare_number), "no Medicare number on the page");
  assert.ok(!text.includes(asDepartment.gp_details), "no GP on the page");
  assert.doesNotMatch(text, /Medicare|Tax file/);

  // Of the case's notes, the shared one and not the department's own.
  const notes = await page.locator("article.case .notes").first().innerText();
  assert.match(notes, /Home visit completed; client engaged well\./);
  assert.doesNotMatch(notes, /Department only/);
});

test("a shared note written in the portal is shown on the case, and the department reads it", async () => {
  const body = `Visited today; rent arrears plan agreed (${randomUUID()}).`;
  const article = page.locator("article.case").first();
  await article.getByLabel("Shared note").fill(body);
  await article.getByRole("button", { name: "Add shared note" }).click();
  await settled();
  const note = article.locator(".notes li", { hasText: body });
  assert.equal(await note.count(), 1);
  assert.match(await note.locator(".note-meta").innerText(), /· contact · shared · by your organisation$/);

  const cases = unwrap(
    await department.api.GET("/api/v1/clients/{id}/cases", { params: { path: { id: target.id ?? "" } } }),
  );
  const notes = await Promise.all(
    cases.items.map(async (record) =>
      unwrap(await department.api.GET("/api/v1/cases/{id}/notes", { params: { path: { id: record.id ?? "" } } })).items,
    ),
  );
  const written = notes.flat().find((candidate) => candidate.body === body);
  assert.equal(written?.visibility, "shared");
});

test("changing a field the role may not write is refused with 403, in words", async () => {
  await page.getByLabel("Family name").fill("Changed");
  await page.getByRole("button", { name: "Save changes" }).click();
  await settled();
  const { sentence, requestId } = await problemShown();
  assert.match(sentence, /^You may not change family name, so nothing was saved\./);
  assert.match(requestId, /^Request id: [0-9a-f-]{36} \(quote it when you report the problem\)\.$/);
  assert.match(await page.locator("#problem-detail").innerText(), /^The service said: /);
  const { record } = await clientAs(colleague, target.id ?? "");
  assert.equal(record.family_name, target.family_name, "nothing changed");
});

test("changing a client a colleague changed meanwhile is refused with 412, in words", async () => {
  // Start from what the service holds (the refused family name is put back).
  await page.getByRole("button", { name: "Reload this client" }).click();
  await settled();
  assert.equal(await page.locator("#problem").isVisible(), false);

  const { etag } = await clientAs(colleague, target.id ?? "");
  unwrap(
    await colleague.api.PATCH("/api/v1/clients/{id}", {
      params: { path: { id: target.id ?? "" }, header: { "If-Match": etag } },
      body: { phone: "0400000001" },
    }),
  );

  await page.getByLabel("Phone").fill("0400000002");
  await page.getByRole("button", { name: "Save changes" }).click();
  await settled();
  const { sentence, requestId } = await problemShown();
  assert.match(sentence, /^Someone changed this client after you opened it, so your change was not saved\./);
  assert.match(requestId, /^Request id: [0-9a-f-]{36} /);

  // As the sentence says: reload, see their change, make yours again.
  await page.getByRole("button", { name: "Reload this client" }).click();
  await settled();
  assert.equal(await page.locator('#client-fields dd[data-field="phone"]').innerText(), "0400000001");
  await page.getByLabel("Phone").fill("0400000002");
  await page.getByRole("button", { name: "Save changes" }).click();
  await settled();
  assert.match(await page.locator("#client-saved").innerText(), /^Saved at \d\d:\d\d:\d\d\.$/);
  assert.equal(await page.locator('#client-fields dd[data-field="phone"]').innerText(), "0400000002");
  assert.equal((await clientAs(colleague, target.id ?? "")).record.phone, "0400000002");
});

test("the access token is renewed before it expires, and the status line says so", async () => {
  const status = page.locator("#session-status");
  const expiresAt = Number(await status.getAttribute("data-expires-at"));
  const renewed = Number(await status.getAttribute("data-refreshes"));
  assert.ok(expiresAt > Date.now(), "the token has not expired yet");
  // The client renews the token with the first request in its last 30 s: wait for those.
  const untilMargin = expiresAt - 30_000 - Date.now() + 500;
  if (untilMargin > 0) {
    await page.waitForTimeout(untilMargin);
  }
  await page.getByRole("button", { name: "Reload the list" }).click();
  await settled();
  assert.equal(await page.locator("#problem").isVisible(), false);
  assert.ok((await page.locator("#client-list button").count()) > 0);
  assert.equal(Number(await status.getAttribute("data-refreshes")), renewed + 1);
  assert.ok(Number(await status.getAttribute("data-expires-at")) > expiresAt, "a later expiry");
  const words = await status.innerText();
  const early = /Renewed \d+ times?, last at \d\d:\d\d:\d\d, (\d+) s before the old token expired\./.exec(words);
  assert.ok(early, `the status line tells of the renewal: ${words}`);
  assert.ok(Number(early[1]) > 0 && Number(early[1]) <= 30, "renewed in the last 30 s");
});

test("a page from an origin the service does not allow cannot read the API", async () => {
  const foreign = await browser.newPage();
  foreign.setDefaultTimeout(15_000);
  try {
    await foreign.goto(portalAt(foreignPort));
    await foreign.getByLabel("Username").fill(COLLEAGUE);
    await foreign.getByLabel("Password").fill(password);
    await foreign.getByRole("button", { name: "Sign in" }).click();
    await settled(foreign);
    const { sentence } = await problemShown(foreign);
    assert.equal(
      sentence,
      `The service at ${baseUrl} could not be reached. It may be down, or it does not accept requests ` +
        `from this page's address (http://127.0.0.1:${foreignPort}).`,
    );
    assert.equal(await foreign.locator("#session-status").innerText(), "Not signed in.");
    assert.equal(await foreign.locator("#workspace").isVisible(), false);

    // The same request from each page: the browser hands the answer to the allowed origin
    // only. The service is up, so the refusal is CORS.
    const probe = (url: string) =>
      fetch(url).then(
        (response) => `read ${response.status}`,
        (error: unknown) => `refused: ${String(error)}`,
      );
    assert.equal(await page.evaluate(probe, `${baseUrl}/api/v1/me`), "read 401");
    assert.match(await foreign.evaluate(probe, `${baseUrl}/api/v1/me`), /^refused: TypeError/);
  } finally {
    await foreign.close();
  }
});
