/**
 * A typed client for the casebridge API.
 *
 * The paths, parameters and bodies are the generated types of the committed OpenAPI document
 * (`src/schema.d.ts`, by openapi-typescript), called through openapi-fetch. This file adds what
 * a document cannot say: logging in (with a TOTP code when the account asks for one), keeping
 * the access token fresh with the single-use refresh token, enrolling in MFA, and RFC 9457
 * problems as errors with their stable `code`.
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };
export type Problem = components["schemas"]["Problem"];
export type TokenResponse = components["schemas"]["TokenResponse"];
export type TotpEnrolment = components["schemas"]["TotpEnrolment"];
export type ClientToken = components["schemas"]["ClientToken"];
export type OAuthErrorBody = components["schemas"]["OAuthError"];

/** An OAuth 2.0 error from the token endpoint (RFC 6749 §5.2), with its `error` code. */
export class OAuthError extends Error {
  readonly status: number;
  readonly error: string;

  constructor(body: OAuthErrorBody, response: Response) {
    super(`${response.status} ${body.error}`);
    this.name = "OAuthError";
    this.status = response.status;
    this.error = body.error;
  }
}

/** A problem the service answered. Branch on `code`, never on `detail` (words for people). */
export class ProblemError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problem: Problem;
  /** The service's id for the request: quote it when reporting a problem. */
  readonly requestId: string | null;
  /** Seconds to wait before trying again (429, 503), when the service said. */
  readonly retryAfter: number | null;

  constructor(problem: Problem, response: Response) {
    super(`${problem.status} ${problem.code}: ${problem.detail}`);
    this.name = "ProblemError";
    this.status = problem.status;
    this.code = problem.code;
    this.problem = problem;
    this.requestId = response.headers.get("x-request-id");
    const retryAfter = Number(response.headers.get("retry-after") ?? Number.NaN);
    this.retryAfter = Number.isFinite(retryAfter) ? retryAfter : null;
  }
}

/** What openapi-fetch answers: the body, or the error body, and the response. */
interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The body of a successful answer; a problem is thrown as a `ProblemError`. */
export function unwrap<T>(answer: Answer<T>): T {
  const { data, error, response } = answer;
  if (response.ok) {
    return data as T;
  }
  if (isProblem(error)) {
    throw new ProblemError(error, response);
  }
  throw new Error(`${response.status} ${response.statusText} without a problem body`);
}

function isProblem(value: unknown): value is Problem {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { code?: unknown }).code === "string" &&
    typeof (value as { status?: unknown }).status === "number"
  );
}

export interface Session {
  accessToken: string;
  /** A person's single-use refresh token; null for a system, which asks for a new token. */
  refreshToken: string | null;
  /** When the access token expires, in milliseconds since the epoch. */
  expiresAt: number;
}

export interface CasebridgeOptions {
  /** Where the service is, such as `https://casebridge.example.gov.au`. */
  baseUrl: string;
  /** Refresh the access token this long before it expires (default 30 s). */
  refreshMarginSeconds?: number;
  /** For tests and other runtimes; the global `fetch` by default. */
  fetch?: typeof globalThis.fetch;
  /** The clock, for tests; `Date.now` by default. */
  now?: () => number;
}

/** The requests that carry no access token (they are how one gets one). */
const UNAUTHENTICATED = ["/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/oauth/token"];

/** A CSP system's OAuth 2.0 client credentials. */
interface SystemCredentials {
  clientId: string;
  clientSecret: string;
}

/** One part of HTTP Basic credentials, form-encoded first as RFC 6749 §2.3.1 asks. */
function formEncoded(part: string): string {
  return new URLSearchParams({ v: part }).toString().slice("v=".length);
}

export class Casebridge {
  /** Every operation of the API, typed: `api.GET("/api/v1/clients", { params: ... })`. */
  readonly api: Client<paths>;
  #session: Session | null = null;
  #system: SystemCredentials | null = null;
  #refreshing: Promise<Session> | null = null;
  readonly #marginMs: number;
  readonly #now: () => number;

  constructor(options: CasebridgeOptions) {
    this.#marginMs = (options.refreshMarginSeconds ?? 30) * 1000;
    this.#now = options.now ?? Date.now;
    this.api = createClient<paths>({
      baseUrl: options.baseUrl,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    this.api.use(this.#bearer());
  }

  /** The current session, if logged in. */
  get session(): Session | null {
    return this.#session;
  }

  /**
   * Logs in. An account enrolled in MFA answers 401 `mfa_code_required` without a code:
   * catch that `ProblemError`, ask for the authenticator's code, and log in again with it.
   */
  async login(username: string, password: string, totpCode?: string): Promise<Session> {
    const tokens = unwrap(
      await this.api.POST("/api/v1/auth/login", {
        body: { username, password, ...(totpCode === undefined ? {} : { totp_code: totpCode }) },
      }),
    );
    return this.#keep(tokens);
  }

  /**
   * Logs a CSP system in with OAuth 2.0 client credentials (HTTP Basic). There is no refresh
   * token: when the access token is about to expire, a new one is asked for with the same
   * credentials, which this object keeps in memory for that.
   */
  async loginAsSystem(clientId: string, clientSecret: string): Promise<Session> {
    this.#system = { clientId, clientSecret };
    return this.#systemToken(this.#system);
  }

  async #systemToken(credentials: SystemCredentials): Promise<Session> {
    const basic = btoa(`${formEncoded(credentials.clientId)}:${formEncoded(credentials.clientSecret)}`);
    const { data, error, response } = await this.api.POST("/api/v1/oauth/token", {
      body: { grant_type: "client_credentials" },
      bodySerializer: (body) => new URLSearchParams(body as Record<string, string>),
      headers: {
        Authorization: `Basic ${basic}`,
        "Content-Type": "application/x-www-form-urlencoded",
      },
    });
    if (data === undefined) {
      const body = error as Partial<OAuthErrorBody> | undefined;
      if (typeof body?.error === "string") {
        throw new OAuthError(body as OAuthErrorBody, response);
      }
      // A 429 or 503 is a problem like any other answer's.
      unwrap<ClientToken>({ error, response });
      throw new Error(`${response.status} from the token endpoint`);
    }
    this.#session = {
      accessToken: data.access_token,
      refreshToken: null,
      expiresAt: this.#now() + data.expires_in * 1000,
    };
    return this.#session;
  }

  /**
   * Exchanges the refresh token for new tokens (for a system: asks for a new token). Refresh tokens are single use, so concurrent
   * callers share one exchange: a second use of the same refresh token ends the session.
   */
  refresh(): Promise<Session> {
    const session = this.#session;
    if (session === null) {
      return Promise.reject(new Error("not logged in"));
    }
    const system = this.#system;
    this.#refreshing ??= (
      system !== null || session.refreshToken === null
        ? system === null
          ? Promise.reject(new Error("no refresh token"))
          : this.#systemToken(system)
        : this.api
            .POST("/api/v1/auth/refresh", { body: { refresh_token: session.refreshToken } })
            .then((answer) => this.#keep(unwrap(answer)))
            .catch((error: unknown) => {
              // The token is spent or its session ended: forget the session, so that the next
              // request asks to log in again rather than spending the token a second time.
              if (error instanceof ProblemError && error.status === 401) {
                this.#session = null;
              }
              throw error;
            })
    ).finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  /** Ends the session on the service and forgets its tokens. */
  async logout(): Promise<void> {
    if (this.#session === null) {
      return;
    }
    unwrap(await this.api.POST("/api/v1/auth/logout"));
    this.#session = null;
    this.#system = null;
  }

  /** Starts TOTP enrolment: show the secret (or its URI as a QR code) once. */
  async enrolTotp(): Promise<TotpEnrolment> {
    return unwrap(await this.api.POST("/api/v1/me/mfa/totp"));
  }

  /** Completes enrolment with a code from the authenticator. */
  async confirmTotp(code: string): Promise<void> {
    unwrap(await this.api.POST("/api/v1/me/mfa/totp/confirm", { body: { code } }));
  }

  #keep(tokens: TokenResponse): Session {
    this.#system = null;
    this.#session = {
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      expiresAt: this.#now() + tokens.expires_in * 1000,
    };
    return this.#session;
  }

  /** Adds the access token to every request but logins and refreshes, refreshing it first
   * when it is about to expire. */
  #bearer(): Middleware {
    return {
      onRequest: async ({ request, schemaPath }) => {
        if (UNAUTHENTICATED.includes(schemaPath) || this.#session === null) {
          return undefined;
        }
        let session = this.#session;
        if (session.expiresAt - this.#now() <= this.#marginMs) {
          session = await this.refresh();
        }
        request.headers.set("Authorization", `Bearer ${session.accessToken}`);
        return request;
      },
    };
  }
}
