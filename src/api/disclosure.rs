//! The pipeline's back half: the only way a protected record leaves. Each responder masks the
//! record with the permit's readable fields ([`mask::apply`]) and notes for the audit what it
//! disclosed: which clients, which fields.
use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use actix_web::http::header::{ETAG, LOCATION};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, Responder};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::audit::Disclosure;
use crate::authz::{Permit, mask};
use crate::error::ApiError;
use crate::spreadsheet::{self, Cell};

/// A record that may be disclosed under a permit.
pub trait Disclose: Serialize {
    fn id(&self) -> &str;
    /// The client the record is about, if any.
    fn client_id(&self) -> Option<&str>;
    /// The version an `If-Match` must name to change the record.
    fn version(&self) -> Option<i32> {
        None
    }
    /// Whether the record is a restricted client's: its disclosure raises an alert.
    fn restricted(&self) -> bool {
        false
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last page. Follow it until it is null:
    /// the client and case lists and the outdated-notices report look at a bounded number of
    /// rows per page, so a page there may hold fewer items than `limit`, or none, while more
    /// follow. Opaque: the last item's id, or (those lists) a sealed position.
    pub next_cursor: Option<String>,
}

pub struct Disclosed {
    status: StatusCode,
    body: Value,
    /// Sent instead of `body` when the caller asked for CSV.
    csv: Option<String>,
    etag: Option<i32>,
    location: Option<String>,
    disclosure: Disclosure,
}

pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// Masks one record. Used for nested records too (a case's allocations), so every field,
/// however deep, passes through [`mask::apply`].
pub fn masked<T: Disclose>(permit: &Permit, record: &T) -> Result<Map<String, Value>, ApiError> {
    masked_value(permit, record)
}

fn masked_value<T: Serialize>(permit: &Permit, value: &T) -> Result<Map<String, Value>, ApiError> {
    Ok(mask::apply(
        permit.readable(),
        serde_json::to_value(value).map_err(ApiError::internal)?,
    ))
}

fn disclosure_for(permit: &Permit, resource_id: Option<String>) -> Disclosure {
    Disclosure {
        resource_type: Some(permit.resource.name()),
        resource_id,
        purpose_of_use: permit.purpose().map(str::to_owned),
        ..Disclosure::default()
    }
}

fn note_record<T: Disclose>(disclosure: &mut Disclosure, record: &T, fields: &Map<String, Value>) {
    let client_id = record.client_id().map(str::to_owned);
    if record.restricted() {
        disclosure.restricted_client_ids.extend(client_id.clone());
    }
    disclosure.client_ids.extend(client_id);
    disclosure.fields.extend(fields.keys().cloned());
}

/// A single record: 200 with its ETag.
pub fn one<T: Disclose>(permit: &Permit, record: &T) -> Result<Disclosed, ApiError> {
    let fields = masked(permit, record)?;
    let mut disclosure = disclosure_for(permit, Some(record.id().to_owned()));
    note_record(&mut disclosure, record, &fields);
    Ok(Disclosed {
        status: StatusCode::OK,
        body: Value::Object(fields),
        // The version is itself a field: no ETag for whoever may not read it.
        etag: record.version().filter(|_| permit.can_read("version")),
        location: None,
        disclosure,
        csv: None,
    })
}

/// A newly created record: 201 with its location and ETag.
pub fn created<T: Disclose>(
    permit: &Permit,
    record: &T,
    location: String,
) -> Result<Disclosed, ApiError> {
    Ok(one(permit, record)?.at(location))
}

/// A page of records: `{items, next_cursor}`.
pub fn page<T: Disclose>(
    permit: &Permit,
    records: &[T],
    next_cursor: Option<String>,
) -> Result<Disclosed, ApiError> {
    let mut disclosure = disclosure_for(permit, None);
    let mut items = Vec::with_capacity(records.len());
    for record in records {
        let fields = masked(permit, record)?;
        note_record(&mut disclosure, record, &fields);
        items.push(Value::Object(fields));
    }
    let body = serde_json::json!({ "items": items, "next_cursor": next_cursor });
    Ok(Disclosed {
        status: StatusCode::OK,
        body,
        etag: None,
        location: None,
        disclosure,
        csv: None,
    })
}

/// A page of the change feed: records of several kinds, each masked by its own permit, and
/// removals, which name a record and disclose nothing of it. The audit row names each field
/// with its kind (`client.given_name`).
pub struct Feed {
    items: Vec<Value>,
    disclosure: Disclosure,
}

impl Feed {
    pub fn new(purpose_of_use: Option<String>) -> Self {
        Self {
            items: Vec::new(),
            disclosure: Disclosure {
                resource_type: Some("change"),
                purpose_of_use,
                ..Disclosure::default()
            },
        }
    }

    /// A changed record, masked by `permit`; `nested` names the fields of the records nested
    /// in it (a case's allocations, masked already) as `allocations.field`.
    pub fn changed<T: Disclose>(
        &mut self,
        kind: &str,
        permit: &Permit,
        record: &T,
        nested: BTreeSet<String>,
    ) -> Result<(), ApiError> {
        let fields = masked(permit, record)?;
        let mut noted = Disclosure::default();
        note_record(&mut noted, record, &fields);
        self.disclosure.client_ids.append(&mut noted.client_ids);
        let restricted = &mut self.disclosure.restricted_client_ids;
        restricted.append(&mut noted.restricted_client_ids);
        let named = noted.fields.into_iter().chain(nested);
        self.disclosure
            .fields
            .extend(named.map(|field| format!("{kind}.{field}")));
        self.items.push(serde_json::json!({
            "type": kind, "id": record.id(), "removed": false, "record": fields,
        }));
        Ok(())
    }

    /// A record that changed and is no longer in the caller's reach.
    pub fn removed(&mut self, kind: &str, id: &str) {
        self.items
            .push(serde_json::json!({ "type": kind, "id": id, "removed": true }));
    }

    /// `{items, next_cursor, more}`.
    pub fn respond(self, next_cursor: String, more: bool) -> Disclosed {
        Disclosed {
            status: StatusCode::OK,
            body: serde_json::json!({
                "items": self.items, "next_cursor": next_cursor, "more": more,
            }),
            etag: None,
            location: None,
            disclosure: self.disclosure,
            csv: None,
        }
    }
}

/// Whether the caller asked for CSV (`Accept: text/csv`).
pub fn wants_csv(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/csv"))
}

/// A whole list, as `page` masks it, for a spreadsheet: one row per record, one column per
/// field the permit lets the caller read (in the catalogue's order). Lists are joined with
/// "; ", objects written as JSON; every cell is made safe to open ([`spreadsheet`]).
pub fn csv<T: Disclose>(permit: &Permit, records: &[T]) -> Result<Disclosed, ApiError> {
    let mut disclosed = page(permit, records, None)?;
    let columns: Vec<&str> = permit
        .resource
        .def()
        .fields
        .iter()
        .copied()
        .filter(|field| permit.can_read(field))
        .collect();
    let mut writer = spreadsheet::Writer::new();
    writer
        .header(columns.iter().copied())
        .map_err(ApiError::internal)?;
    let items = disclosed.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for item in &items {
        let row = columns.iter().map(|column| cell(&item[*column]));
        writer.row(row).map_err(ApiError::internal)?;
    }
    disclosed.csv = Some(writer.finish()?);
    Ok(disclosed)
}

fn cell(value: &Value) -> Cell {
    match value {
        Value::Null => Cell::Text(String::new()),
        Value::Number(number) => Cell::Number(number.clone()),
        Value::String(text) => Cell::Text(text.clone()),
        // Each item is neutralised, so that a spreadsheet splitting the cell at "; " finds
        // no formula either.
        Value::Array(items) => Cell::Text(
            items
                .iter()
                .map(|item| match cell(item) {
                    Cell::Text(text) => spreadsheet::neutralise(&text).into_owned(),
                    Cell::Number(number) => number.to_string(),
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => Cell::Text(other.to_string()),
    }
}

impl Disclosed {
    /// Records that the response is about these clients (a client's access log names its
    /// client; a retention run the clients it disposed of).
    pub fn about_clients(mut self, client_ids: impl IntoIterator<Item = String>) -> Self {
        self.disclosure.client_ids.extend(client_ids);
        self
    }

    /// Names in the audit row the record the response is about (the organisation a report of
    /// a list covers), where the list itself names none.
    pub fn naming(mut self, resource_id: String) -> Self {
        self.disclosure.resource_id = Some(resource_id);
        self
    }

    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// Raises `alert` with the response's audit row.
    pub fn raising(mut self, alert: crate::audit::ChangeAlert) -> Self {
        self.disclosure.alert = Some(alert);
        self
    }

    pub fn disclosure(&self) -> &Disclosure {
        &self.disclosure
    }

    /// Answers 201 Created with the new record's location.
    pub fn at(mut self, location: String) -> Self {
        self.status = StatusCode::CREATED;
        self.location = Some(location);
        self
    }

    /// Adds a credential shown once (an API client's secret) to the body. The audit row names
    /// the field, never its value.
    pub fn with_credential(mut self, name: &str, value: String) -> Self {
        if let Value::Object(body) = &mut self.body {
            body.insert(name.to_owned(), Value::String(value));
        }
        self.disclosure.fields.insert(name.to_owned());
        self
    }

    /// Adds `summary`, masked by `permit` like its records, to a page's body as `summary` (a
    /// report's figures about the whole of what it covers); the audit row names its fields.
    pub fn with_summary<T: Serialize>(
        mut self,
        permit: &Permit,
        summary: &T,
    ) -> Result<Self, ApiError> {
        let fields = masked_value(permit, summary)?;
        self.disclosure.fields.extend(fields.keys().cloned());
        if let Value::Object(body) = &mut self.body {
            body.insert("summary".to_owned(), Value::Object(fields));
        }
        Ok(self)
    }

    /// Names in the audit row the fields the request changed (`api::history`).
    pub fn changing(mut self, fields: impl IntoIterator<Item = String>) -> Self {
        self.disclosure.changed_fields.extend(fields);
        self
    }

    /// Fields disclosed inside nested records, named `parent.field`.
    pub fn with_nested_fields(mut self, parent: &str, fields: &BTreeSet<String>) -> Self {
        self.disclosure
            .fields
            .extend(fields.iter().map(|field| format!("{parent}.{field}")));
        self
    }
}

impl Responder for Disclosed {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, req: &HttpRequest) -> HttpResponse {
        req.extensions_mut().insert(self.disclosure);
        let mut response = HttpResponse::build(self.status);
        if let Some(version) = self.etag {
            response.insert_header((ETAG, etag(version)));
        }
        if let Some(location) = self.location {
            response.insert_header((LOCATION, location));
        }
        match self.csv {
            Some(csv) => response.content_type("text/csv; charset=utf-8").body(csv),
            None => response.json(self.body),
        }
    }
}
