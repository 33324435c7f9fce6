/**
 * A reference portal for a contracted service provider (CSP): sign in, see the clients
 * allocated to your organisation, open one, change contact details and write shared notes.
 *
 * Everything goes through the typed client (`@casebridge/client`): it logs in, keeps the
 * access token fresh with the single-use refresh token, and turns problems into
 * `ProblemError`s with a stable `code`, which `explain.ts` turns into words. The portal keeps
 * no policy of its own: it shows the fields the service sent and lets the service refuse a
 * change, so the rules live in one place.
 */
import { Casebridge, ProblemError, unwrap, type components } from "@casebridge/client";

import { explain, fieldLabel } from "./explain.js";

type ClientRecord = components["schemas"]["ClientRecord"];
type ClientUpdate = components["schemas"]["ClientUpdate"];
type CaseRecord = components["schemas"]["CaseRecord"];
type NoteRecord = components["schemas"]["NoteRecord"];
type NoteType = components["schemas"]["NoteType"];
type Me = components["schemas"]["Me"];

// One build serves any deployment: `?api=` names the service; the default is where
// `cargo run -- serve --demo` listens.
const serviceUrl = new URL(window.location.href).searchParams.get("api") ?? "http://127.0.0.1:8080";
// The client renews the access token with the first request in its last REFRESH_MARGIN
// seconds; the status line says so.
const REFRESH_MARGIN = 30;
const casebridge = new Casebridge({ baseUrl: serviceUrl, refreshMarginSeconds: REFRESH_MARGIN });

/** Who is signed in (from `/me`), for the status line and to recognise our own notes. */
let me: Me | null = null;
/** The open client, with the ETag its changes must name in If-Match. */
let current: { id: string; etag: string; record: ClientRecord } | null = null;
/** Token renewals seen, to make the client's refreshing visible. */
let refreshes = 0;
let lastRefresh: { at: number; oldExpiresAt: number } | null = null;

// The refresh happens inside the client, before the request that needed it. This watches
// its answer: at that moment the client still holds the old session, so the old expiry can
// be compared with the time of renewal.
casebridge.api.use({
  onResponse({ schemaPath, response }) {
    if (schemaPath === "/api/v1/auth/refresh" && response.ok) {
      refreshes += 1;
      lastRefresh = { at: Date.now(), oldExpiresAt: casebridge.session?.expiresAt ?? Date.now() };
    }
    return undefined;
  },
});

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) {
    throw new Error(`#${id} is missing from the page`);
  }
  return found as T;
}

function clockTime(milliseconds: number): string {
  return new Date(milliseconds).toTimeString().slice(0, 8);
}

// ---- the status line: who is signed in and when the access token expires -----------------

function renderStatus(): void {
  const status = byId("session-status");
  const session = casebridge.session;
  if (session === null || me === null) {
    status.textContent = "Not signed in.";
    delete status.dataset["expiresAt"];
    return;
  }
  const left = Math.round((session.expiresAt - Date.now()) / 1000);
  const parts = [
    `Signed in as ${me.display_name} (${me.username}, ${me.organisation.name}).`,
    left > 0
      ? `Access token expires at ${clockTime(session.expiresAt)} (in ${left} s);`
      : `Access token expired at ${clockTime(session.expiresAt)};`,
    `it is renewed with the first request in its last ${REFRESH_MARGIN} s.`,
  ];
  if (lastRefresh !== null) {
    const early = Math.round((lastRefresh.oldExpiresAt - lastRefresh.at) / 1000);
    parts.push(
      `Renewed ${refreshes} ${refreshes === 1 ? "time" : "times"}, last at ${clockTime(lastRefresh.at)}, ` +
        `${early} s before the old token expired.`,
    );
  }
  status.textContent = parts.join(" ");
  // For the browser test, which compares expiries without parsing the sentence.
  status.dataset["expiresAt"] = String(session.expiresAt);
  status.dataset["refreshes"] = String(refreshes);
}

// ---- problems, in words ---------------------------------------------------------------

function showProblem(error: unknown): void {
  const { sentence, detail, requestId } = explain(error, serviceUrl, window.location.origin);
  byId("problem-sentence").textContent = sentence;
  byId("problem-detail").textContent = detail ?? "";
  byId("problem-request-id").textContent =
    requestId === null ? "" : `Request id: ${requestId} (quote it when you report the problem).`;
  byId("problem").hidden = false;
  // The person may be at the bottom of a long page, by the button they pressed.
  byId("problem").scrollIntoView({ block: "nearest" });
}

function clearProblem(): void {
  byId("problem").hidden = true;
}

/** The codes with which the service says the session is over: back to signing in. */
const SESSION_OVER = ["invalid_token", "authentication_required", "invalid_refresh_token", "refresh_token_reused"];

/** Requests under way, for the "Working…" line. */
let pending = 0;

/** Runs what a click asked for; whatever goes wrong is shown in words. */
async function run(action: () => Promise<void>): Promise<void> {
  clearProblem();
  pending += 1;
  byId("busy").hidden = false;
  try {
    await action();
  } catch (error) {
    console.error(error);
    showProblem(error);
    if (error instanceof ProblemError && SESSION_OVER.includes(error.code) && me !== null) {
      showSignIn();
    }
  } finally {
    pending -= 1;
    byId("busy").hidden = pending === 0;
    renderStatus();
  }
}

// ---- signing in and out ---------------------------------------------------------------

function showSignIn(): void {
  me = null;
  current = null;
  refreshes = 0;
  lastRefresh = null;
  byId("workspace").hidden = true;
  byId("client").hidden = true;
  byId("sign-out").hidden = true;
  byId("sign-in").hidden = false;
  byId("totp").hidden = true;
}

async function signIn(form: HTMLFormElement): Promise<void> {
  const data = new FormData(form);
  const username = String(data.get("username") ?? "");
  const password = String(data.get("password") ?? "");
  const code = String(data.get("totp") ?? "").trim();
  const totpField = byId("totp");
  try {
    await casebridge.login(username, password, totpField.hidden || code === "" ? undefined : code);
  } catch (error) {
    // An account enrolled in MFA answers 401 mfa_code_required to a password alone: ask
    // for the code, then the person signs in again with it.
    if (error instanceof ProblemError && error.code === "mfa_code_required") {
      totpField.hidden = false;
      totpField.querySelector("input")?.focus();
    }
    throw error;
  }
  form.reset();
  me = unwrap(await casebridge.api.GET("/api/v1/me"));
  form.hidden = true;
  byId("totp").hidden = true;
  byId("workspace").hidden = false;
  byId("sign-out").hidden = false;
  await loadClients();
}

async function signOut(): Promise<void> {
  try {
    await casebridge.logout();
  } finally {
    showSignIn();
  }
}

// ---- the client list ----------------------------------------------------------------------

/** Every item of a paged list: a page may hold fewer items than asked for while more follow. */
async function everyPage<T>(page: (cursor: string | null) => Promise<{ items: T[]; next_cursor?: string | null }>): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const answer = await page(cursor);
    items.push(...answer.items);
    cursor = answer.next_cursor ?? null;
  } while (cursor !== null);
  return items;
}

function nameOf(client: ClientRecord): string {
  return [client.given_name, client.family_name].filter((part) => part !== undefined).join(" ") || "(no name shown)";
}

async function loadClients(): Promise<void> {
  const clients = await everyPage(async (cursor) =>
    unwrap(
      await casebridge.api.GET("/api/v1/clients", {
        params: { query: { limit: 100, ...(cursor === null ? {} : { cursor }) } },
      }),
    ),
  );
  const list = byId("client-list");
  list.replaceChildren();
  if (clients.length === 0) {
    list.append(Object.assign(document.createElement("li"), { textContent: "No client is allocated to your organisation." }));
  }
  for (const client of clients) {
    const id = client.id;
    if (id === undefined) {
      continue;
    }
    const item = document.createElement("li");
    const open = Object.assign(document.createElement("button"), { type: "button", textContent: nameOf(client) });
    open.addEventListener("click", () => void run(() => openClient(id)));
    item.append(open);
    if (client.date_of_birth !== undefined) {
      item.append(` born ${client.date_of_birth}`);
    }
    list.append(item);
  }
}

// ---- one client -------------------------------------------------------------------------

/** Words for a field's value, whatever its shape (an address, a list of alerts, a flag). */
function formatValue(field: string, value: unknown): string {
  if (value === null) {
    return "not recorded";
  }
  if (field === "address" && typeof value === "object") {
    const { line1, line2, suburb, state, postcode } = value as Record<string, string | null | undefined>;
    const place = [suburb, state, postcode].filter((part) => part != null).join(" ");
    return [line1, line2, place].filter((part) => part != null && part !== "").join(", ");
  }
  if (field.endsWith("_at") && typeof value === "string") {
    return new Date(value).toLocaleString("en-AU");
  }
  if (Array.isArray(value)) {
    return value.length === 0 ? "none" : value.map((item) => formatValue("", item)).join(", ");
  }
  if (typeof value === "object") {
    return Object.entries(value)
      .map(([key, part]) => `${fieldLabel(key)}: ${formatValue(key, part)}`)
      .join("; ");
  }
  if (typeof value === "boolean") {
    return value ? "yes" : "no";
  }
  return String(value);
}

/** The fields the edit form offers, when the service sent them: plain text ones. */
const EDITABLE = [
  "given_name",
  "family_name",
  "preferred_name",
  "date_of_birth",
  "gender",
  "phone",
  "email",
  "interpreter_language",
] as const;

function renderClient(record: ClientRecord): void {
  byId("client-name").textContent = nameOf(record);
  // Only what the service sent: a field this role may not read is absent from the record,
  // so it has no row here at all (not an empty one).
  const fields = byId("client-fields");
  fields.replaceChildren();
  for (const [field, value] of Object.entries(record)) {
    if (field === "id" || value === undefined) {
      continue;
    }
    const term = Object.assign(document.createElement("dt"), { textContent: fieldLabel(field) });
    const description = Object.assign(document.createElement("dd"), { textContent: formatValue(field, value) });
    description.dataset["field"] = field;
    fields.append(term, description);
  }

  const inputs = byId("client-edit-fields");
  inputs.replaceChildren();
  for (const field of EDITABLE) {
    const value = record[field];
    if (value === undefined) {
      continue;
    }
    const label = Object.assign(document.createElement("label"), { textContent: fieldLabel(field) });
    label.append(Object.assign(document.createElement("input"), { name: field, value: value ?? "" }));
    inputs.append(label);
  }
  byId("client-saved").textContent = "";
  byId("client").hidden = false;
}

async function openClient(id: string): Promise<void> {
  const answer = await casebridge.api.GET("/api/v1/clients/{id}", { params: { path: { id } } });
  const record = unwrap(answer);
  current = { id, etag: etagOf(answer.response), record };
  renderClient(record);
  await loadCases(id);
}

function etagOf(response: Response): string {
  const etag = response.headers.get("etag");
  if (etag === null) {
    // The service exposes ETag to the origins it allows; without it no change can be made.
    throw new Error("The service's answer had no readable ETag header.");
  }
  return etag;
}

/** Sends the fields the person changed, naming the version they read (If-Match). */
async function saveClient(form: HTMLFormElement): Promise<void> {
  if (current === null) {
    return;
  }
  const changes: Record<string, string | null> = {};
  for (const field of EDITABLE) {
    const input = form.elements.namedItem(field);
    if (!(input instanceof HTMLInputElement)) {
      continue;
    }
    const before = current.record[field] ?? "";
    const after = input.value.trim();
    if (after !== before) {
      // An emptied field clears it.
      changes[field] = after === "" ? null : after;
    }
  }
  if (Object.keys(changes).length === 0) {
    byId("client-saved").textContent = "Nothing to save: no detail was changed.";
    return;
  }
  const answer = await casebridge.api.PATCH("/api/v1/clients/{id}", {
    params: { path: { id: current.id }, header: { "If-Match": current.etag } },
    body: changes as ClientUpdate,
  });
  const record = unwrap(answer);
  current = { id: current.id, etag: etagOf(answer.response), record };
  renderClient(record);
  byId("client-saved").textContent = `Saved at ${clockTime(Date.now())}.`;
}

// ---- cases and shared notes ---------------------------------------------------------------

async function loadCases(clientId: string): Promise<void> {
  const cases = await everyPage(async (cursor) =>
    unwrap(
      await casebridge.api.GET("/api/v1/clients/{id}/cases", {
        params: { path: { id: clientId }, query: { limit: 50, ...(cursor === null ? {} : { cursor }) } },
      }),
    ),
  );
  const container = byId("cases");
  container.replaceChildren();
  const template = byId<HTMLTemplateElement>("case-template");
  for (const record of cases) {
    const fragment = template.content.cloneNode(true) as DocumentFragment;
    const title = fragment.querySelector("h3");
    const notes = fragment.querySelector("ul");
    const form = fragment.querySelector("form");
    if (title === null || notes === null || form === null || record.id === undefined) {
      continue;
    }
    const caseId = record.id;
    title.textContent = caseTitle(record);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void run(() => addNote(caseId, form, notes));
    });
    container.append(fragment);
    await loadNotes(caseId, notes);
  }
}

function caseTitle(record: CaseRecord): string {
  const parts = [
    record.service_type === undefined ? "Case" : `Case: ${record.service_type}`,
    record.status,
    record.risk_level === undefined ? undefined : `${record.risk_level} risk`,
    record.opened_at === undefined ? undefined : `opened ${record.opened_at.slice(0, 10)}`,
  ];
  return parts.filter((part) => part !== undefined).join(" · ");
}

async function loadNotes(caseId: string, list: HTMLUListElement): Promise<void> {
  const notes = await everyPage(async (cursor) =>
    unwrap(
      await casebridge.api.GET("/api/v1/cases/{id}/notes", {
        params: { path: { id: caseId }, query: { limit: 200, ...(cursor === null ? {} : { cursor }) } },
      }),
    ),
  );
  list.replaceChildren(...notes.map(noteItem));
  if (notes.length === 0) {
    list.append(Object.assign(document.createElement("li"), { textContent: "No shared note yet." }));
  }
}

function noteItem(note: NoteRecord): HTMLLIElement {
  const item = document.createElement("li");
  const ours = me !== null && note.author_organisation_id === me.organisation.id;
  const meta = [
    note.created_at === undefined ? undefined : new Date(note.created_at).toLocaleString("en-AU"),
    note.note_type?.replaceAll("_", " "),
    note.visibility,
    ours ? "by your organisation" : undefined,
  ].filter((part) => part !== undefined);
  item.append(
    Object.assign(document.createElement("div"), { className: "note-meta", textContent: meta.join(" · ") }),
    Object.assign(document.createElement("p"), { className: "note-body", textContent: note.body ?? "" }),
  );
  return item;
}

async function addNote(caseId: string, form: HTMLFormElement, list: HTMLUListElement): Promise<void> {
  const data = new FormData(form);
  const body = String(data.get("body") ?? "").trim();
  const noteType = String(data.get("note_type") ?? "contact") as NoteType;
  // One Idempotency-Key per note the person means to write: sending the same note again
  // after an answer was lost (a second click) gets the first answer back instead of a second
  // note. Changed words are another note, with a new key.
  if (form.dataset["keyFor"] !== body) {
    form.dataset["key"] = crypto.randomUUID();
    form.dataset["keyFor"] = body;
  }
  unwrap(
    await casebridge.api.POST("/api/v1/cases/{id}/notes", {
      params: { path: { id: caseId }, header: { "Idempotency-Key": form.dataset["key"] ?? crypto.randomUUID() } },
      // A CSP's notes are always shared with the department; the service sets that.
      body: { note_type: noteType, body },
    }),
  );
  form.reset();
  delete form.dataset["key"];
  delete form.dataset["keyFor"];
  await loadNotes(caseId, list);
}

// ---- wiring ---------------------------------------------------------------------------------

function onSubmit(id: string, action: (form: HTMLFormElement) => Promise<void>): void {
  const form = byId<HTMLFormElement>(id);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void run(() => action(form));
  });
}

byId("service-url").textContent = serviceUrl;
onSubmit("sign-in", signIn);
onSubmit("client-edit", saveClient);
byId("sign-out").addEventListener("click", () => void run(signOut));
byId("reload-clients").addEventListener("click", () => void run(loadClients));
byId("reload-client").addEventListener("click", () => {
  if (current !== null) {
    const id = current.id;
    void run(() => openClient(id));
  }
});
// The status line counts down to the token's expiry.
window.setInterval(renderStatus, 1000);
renderStatus();
