/**
 * What to tell a person when the service says no. The service's `detail` is written for
 * developers as much as for people, and it may change; its `code` is stable. So the portal
 * branches on `code` for the sentence it shows, and keeps `detail` and the request id below
 * it for whoever has to look into the problem.
 */
import { ProblemError } from "@casebridge/client";

export interface Explanation {
  /** One or two sentences for the person using the portal. */
  sentence: string;
  /** What the service (or the browser) said, for a support desk. */
  detail: string | null;
  /** The service's id for the request, to quote when reporting the problem. */
  requestId: string | null;
}

/** Labels for the record fields the portal knows; others show their own name. */
export const FIELD_LABELS: Record<string, string> = {
  given_name: "Given name",
  family_name: "Family name",
  preferred_name: "Preferred name",
  date_of_birth: "Date of birth",
  gender: "Gender",
  phone: "Phone",
  email: "Email",
  address: "Address",
  interpreter_language: "Interpreter language",
  safety_alerts: "Safety alerts",
  medicare_number: "Medicare number",
  tax_file_number: "Tax file number",
  gp_details: "GP",
  protective_marking: "Protective marking",
  restricted: "Restricted",
  lead_division_id: "Lead division",
  created_at: "Created",
  updated_at: "Last changed",
  version: "Version",
};

export function fieldLabel(field: string): string {
  return FIELD_LABELS[field] ?? field.replaceAll("_", " ");
}

function seconds(retryAfter: number | null): string {
  return retryAfter === null ? "a little while" : `${retryAfter} seconds`;
}

/** A sentence for each problem code a CSP worker can meet in this portal. */
function sentenceFor(problem: ProblemError): string {
  switch (problem.code) {
    case "invalid_credentials":
      return "The username, password or code is not right, or the account is not active. Check them and try again.";
    case "mfa_code_required":
      return "Your account is protected by an authenticator app: enter the 6-digit code it shows now.";
    case "login_locked":
      return `Too many sign-in attempts failed for this username. Wait ${seconds(problem.retryAfter)} and try again, or ask your manager.`;
    case "rate_limited":
      return `Too many requests came from this computer. Wait ${seconds(problem.retryAfter)} and try again.`;
    case "invalid_token":
    case "authentication_required":
    case "invalid_refresh_token":
    case "refresh_token_reused":
      return "Your session has ended. Sign in again.";
    case "password_change_required":
      return "You must change your password before you can go on.";
    case "mfa_enrolment_required":
      return "Your account must be enrolled in an authenticator app before you can go on.";
    case "field_not_writable": {
      const fields = (problem.problem.fields ?? []).map((field) => fieldLabel(field).toLowerCase());
      const named = fields.length > 0 ? fields.join(", ") : "one of these details";
      return `You may not change ${named}, so nothing was saved. Ask the client's caseworker at the department to change it.`;
    }
    case "purpose_of_use_required":
      return "This client's file is restricted: you must say why you need it before you can open it.";
    case "forbidden":
      return "Your role does not allow this. Nothing was shown or changed.";
    case "not_found":
      return "This record does not exist, or it is no longer allocated to your organisation.";
    case "if_match_required":
      return "The change was sent without the version of the client it applies to, so it was not made. Reload the client and make your change again.";
    case "version_mismatch":
      return "Someone changed this client after you opened it, so your change was not saved. Reload the client to see their change, then make yours again.";
    case "validation_failed": {
      const errors = (problem.problem.errors ?? []).map((error) => `${fieldLabel(error.field)}: ${error.message}`);
      return `Some details are not valid, so nothing was saved. ${errors.join("; ")}`;
    }
    case "idempotency_key_in_use":
      return "This note is already being saved. Wait a moment, then reload the client to see whether it was.";
    case "database_busy":
    case "database_unavailable":
      return `The service is busy and nothing was changed. Try again in ${seconds(problem.retryAfter)}.`;
    default:
      return `The service refused the request (${problem.status}, ${problem.code}).`;
  }
}

/** Words for any error the portal's calls can throw. */
export function explain(error: unknown, serviceUrl: string, pageOrigin: string): Explanation {
  if (error instanceof ProblemError) {
    return {
      sentence: sentenceFor(error),
      detail: `The service said: ${error.problem.detail}`,
      requestId: error.requestId,
    };
  }
  // fetch rejects with a TypeError, and says nothing more on purpose, both when the service
  // cannot be reached and when it does not allow this page's origin (CORS).
  if (error instanceof TypeError) {
    return {
      sentence: `The service at ${serviceUrl} could not be reached. It may be down, or it does not accept requests from this page's address (${pageOrigin}).`,
      detail: `The browser said: ${error.message}`,
      requestId: null,
    };
  }
  return { sentence: "Something went wrong in the portal.", detail: String(error), requestId: null };
}
