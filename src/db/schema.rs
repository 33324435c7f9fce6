// Written by hand to match migrations/{sqlite,postgres}: one schema for both backends.
diesel::table! {
    organisations (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        contact_email -> Text,
        contract_starts_on -> Nullable<Date>,
        contract_ends_on -> Nullable<Date>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
        status -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        display_name -> Text,
        email -> Text,
        organisation_id -> Text,
        roles -> Text,
        status -> Text,
        clearance -> Integer,
        password_hash -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_login_at -> Nullable<Timestamp>,
        version -> Integer,
        kind -> Text,
        status_reason -> Nullable<Text>,
        activated_at -> Nullable<Timestamp>,
        training_completed_on -> Nullable<Date>,
        security_check_completed_on -> Nullable<Date>,
        security_check_reference -> Nullable<Text>,
        acceptable_use_accepted_on -> Nullable<Date>,
        approved_at -> Nullable<Timestamp>,
        approved_by -> Nullable<Text>,
        totp_secret -> Nullable<Text>,
        totp_confirmed_at -> Nullable<Timestamp>,
        totp_last_step -> Nullable<BigInt>,
        mfa_exempt -> Bool,
        password_change_required -> Bool,
        pending_roles -> Nullable<Text>,
        pending_clearance -> Nullable<Integer>,
        pending_organisation_id -> Nullable<Text>,
        grant_requested_by -> Nullable<Text>,
        grant_requested_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        refresh_token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        ended_reason -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        scope -> Nullable<Text>,
    }
}

diesel::table! {
    api_client_secrets (user_id) {
        user_id -> Text,
        secret_hash -> Text,
        issued_at -> Timestamp,
        previous_secret_hash -> Nullable<Text>,
        previous_valid_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_throttle (username) {
        username -> Text,
        failures -> Integer,
        window_started_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    access_reviews (id) {
        id -> Text,
        organisation_id -> Text,
        due_on -> Date,
        status -> Text,
        opened_by -> Text,
        opened_at -> Timestamp,
        closed_at -> Nullable<Timestamp>,
        closed_by -> Nullable<Text>,
        version -> Integer,
    }
}

diesel::table! {
    access_review_items (id) {
        id -> Text,
        review_id -> Text,
        subject_id -> Text,
        decision -> Nullable<Text>,
        comment -> Nullable<Text>,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        confirmed_by -> Nullable<Text>,
        confirmed_at -> Nullable<Timestamp>,
        outcome -> Nullable<Text>,
    }
}

diesel::table! {
    used_refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Text,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        given_name -> Text,
        family_name -> Text,
        preferred_name -> Nullable<Text>,
        date_of_birth -> Date,
        gender -> Nullable<Text>,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        address_line1 -> Nullable<Text>,
        address_line2 -> Nullable<Text>,
        address_suburb -> Nullable<Text>,
        address_state -> Nullable<Text>,
        address_postcode -> Nullable<Text>,
        interpreter_language -> Nullable<Text>,
        medicare_number -> Nullable<Text>,
        tax_file_number -> Nullable<Text>,
        gp_details -> Nullable<Text>,
        safety_alerts -> Text,
        protective_marking -> Integer,
        restricted -> Bool,
        lead_division_id -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
        given_name_key -> Nullable<Text>,
        family_name_key -> Nullable<Text>,
    }
}

diesel::table! {
    cases (id) {
        id -> Text,
        client_id -> Text,
        division_id -> Text,
        service_type -> Text,
        status -> Text,
        opened_at -> Timestamp,
        closed_at -> Nullable<Timestamp>,
        lead_worker_id -> Nullable<Text>,
        summary -> Text,
        risk_level -> Text,
        protective_marking -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
        archived_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    allocations (id) {
        id -> Text,
        case_id -> Text,
        organisation_id -> Text,
        worker_id -> Nullable<Text>,
        starts_on -> Date,
        ends_on -> Nullable<Date>,
        service_description -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    notes (id) {
        id -> Text,
        case_id -> Text,
        author_id -> Text,
        author_organisation_id -> Text,
        created_at -> Timestamp,
        note_type -> Text,
        visibility -> Text,
        protective_marking -> Integer,
        body -> Text,
        amends_note_id -> Nullable<Text>,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    client_name_keys (name_key, client_id) {
        name_key -> Text,
        client_id -> Text,
    }
}

diesel::joinable!(client_name_keys -> clients (client_id));
diesel::joinable!(users -> organisations (organisation_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(used_refresh_tokens -> sessions (session_id));
diesel::joinable!(clients -> organisations (lead_division_id));
diesel::joinable!(cases -> clients (client_id));
diesel::joinable!(allocations -> cases (case_id));
diesel::joinable!(notes -> cases (case_id));
diesel::joinable!(api_client_secrets -> users (user_id));
diesel::joinable!(access_reviews -> organisations (organisation_id));
diesel::joinable!(access_review_items -> access_reviews (review_id));
diesel::joinable!(access_review_items -> users (subject_id));

diesel::table! {
    attestations (id) {
        id -> Text,
        organisation_id -> Text,
        period_start -> Date,
        period_end -> Date,
        statement -> Text,
        checklist_version -> Text,
        answers -> Text,
        signed_by_name -> Text,
        signed_by_position -> Text,
        submitted_by -> Text,
        submitted_at -> Timestamp,
        status -> Text,
        acknowledged_by -> Nullable<Text>,
        acknowledged_at -> Nullable<Timestamp>,
        version -> Integer,
    }
}

diesel::table! {
    wrap_ups (id) {
        id -> Text,
        organisation_id -> Text,
        contract_ends_on -> Date,
        status -> Text,
        opened_by -> Text,
        opened_at -> Timestamp,
        closed_by -> Nullable<Text>,
        closed_at -> Nullable<Timestamp>,
        version -> Integer,
    }
}

diesel::table! {
    wrap_up_certificates (id) {
        id -> Text,
        wrap_up_id -> Text,
        what -> Text,
        how -> Text,
        done_on -> Date,
        by_whom -> Text,
        statement -> Text,
        recorded_by -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::joinable!(attestations -> organisations (organisation_id));
diesel::joinable!(wrap_ups -> organisations (organisation_id));
diesel::joinable!(wrap_up_certificates -> wrap_ups (wrap_up_id));

diesel::allow_tables_to_appear_in_same_query!(
    organisations,
    users,
    sessions,
    api_client_secrets,
    login_throttle,
    access_reviews,
    access_review_items,
    used_refresh_tokens,
    clients,
    client_name_keys,
    cases,
    allocations,
    notes,
    attestations,
    wrap_ups,
    wrap_up_certificates,
);

diesel::table! {
    audit_events (id) {
        id -> Text,
        chain_id -> Text,
        sequence -> BigInt,
        occurred_at -> Timestamp,
        request_id -> Text,
        actor_user_id -> Nullable<Text>,
        actor_organisation_id -> Nullable<Text>,
        actor_roles -> Text,
        actor_kind -> Text,
        method -> Text,
        route -> Text,
        path -> Text,
        status -> Integer,
        outcome -> Text,
        reason -> Nullable<Text>,
        resource_type -> Nullable<Text>,
        resource_id -> Nullable<Text>,
        client_ids -> Text,
        fields -> Text,
        purpose_of_use -> Nullable<Text>,
        attempted_username -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        duration_ms -> BigInt,
        previous_hash -> Text,
        hash -> Text,
        attempted_client_id -> Nullable<Text>,
        also_refused -> Nullable<BigInt>,
        trace_id -> Nullable<Text>,
        caller_request_id -> Nullable<Text>,
        changed_fields -> Nullable<Text>,
    }
}

diesel::table! {
    audit_event_clients (client_id, occurred_at, event_id) {
        client_id -> Text,
        occurred_at -> Timestamp,
        event_id -> Text,
        disclosed -> Bool,
    }
}

diesel::joinable!(audit_event_clients -> audit_events (event_id));
diesel::allow_tables_to_appear_in_same_query!(audit_events, audit_event_clients, clients);

diesel::table! {
    breaches (id) {
        id -> Text,
        aware_at -> Timestamp,
        reported_by -> Text,
        source -> Text,
        description -> Text,
        kinds -> Text,
        suspected_actor_ids -> Text,
        window_from -> Timestamp,
        window_to -> Timestamp,
        assessment_due_on -> Date,
        status -> Text,
        eligible -> Nullable<Bool>,
        assessment -> Nullable<Text>,
        assessed_at -> Nullable<Timestamp>,
        assessed_by -> Nullable<Text>,
        review -> Nullable<Text>,
        reviewed_at -> Nullable<Timestamp>,
        reviewed_by -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        version -> Integer,
        occurred_at -> Nullable<Timestamp>,
        occurred_until -> Nullable<Timestamp>,
        on_behalf_of -> Text,
    }
}

diesel::table! {
    breach_manual_individuals (id) {
        id -> Text,
        breach_id -> Text,
        client_id -> Text,
        information_kinds -> Text,
        protective_marking -> Integer,
        source -> Text,
        reason -> Text,
        added_by -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    breach_decisions_not_to_notify (id) {
        id -> Text,
        breach_id -> Text,
        recipient -> Text,
        client_id -> Nullable<Text>,
        ground -> Text,
        explanation -> Nullable<Text>,
        decided_by -> Text,
        decided_at -> Timestamp,
    }
}

diesel::table! {
    breach_extensions (id) {
        id -> Text,
        breach_id -> Text,
        previous_due_on -> Date,
        new_due_on -> Date,
        reason -> Text,
        recorded_by -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    breach_containment_actions (id) {
        id -> Text,
        breach_id -> Text,
        action -> Text,
        target_id -> Text,
        outcome -> Text,
        performed_by -> Text,
        performed_at -> Timestamp,
    }
}

diesel::table! {
    breach_snapshots (id) {
        id -> Text,
        breach_id -> Text,
        taken_at -> Timestamp,
        taken_by -> Text,
        content -> Text,
    }
}

diesel::table! {
    breach_notifications (id) {
        id -> Text,
        breach_id -> Text,
        recipient -> Text,
        client_id -> Nullable<Text>,
        method -> Text,
        sent_on -> Date,
        snapshot_id -> Text,
        recorded_by -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    alerts (id) {
        id -> Text,
        kind -> Text,
        actor_user_id -> Nullable<Text>,
        subject -> Text,
        reason -> Text,
        event_id -> Text,
        raised_at -> Timestamp,
        acknowledged_at -> Nullable<Timestamp>,
        acknowledged_by -> Nullable<Text>,
        acknowledgement_note -> Nullable<Text>,
        delivery -> Text,
        delivery_attempts -> Integer,
        next_delivery_at -> Nullable<Timestamp>,
        delivered_at -> Nullable<Timestamp>,
        version -> Integer,
    }
}

diesel::table! {
    collection_notices (id) {
        id -> Text,
        version -> Text,
        text -> Text,
        effective_from -> Date,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    notices_given (id) {
        id -> Text,
        client_id -> Text,
        notice_id -> Text,
        given_on -> Date,
        method -> Text,
        recorded_by -> Text,
        recorded_at -> Timestamp,
        given_by_organisation_id -> Text,
    }
}

diesel::table! {
    consents (id) {
        id -> Text,
        client_id -> Text,
        purpose -> Text,
        given_on -> Date,
        method -> Text,
        expires_on -> Nullable<Date>,
        withdrawn_on -> Nullable<Date>,
        withdrawal_method -> Nullable<Text>,
        recorded_by -> Text,
        recorded_at -> Timestamp,
        withdrawal_recorded_by -> Nullable<Text>,
        withdrawal_recorded_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    complaints (id) {
        id -> Text,
        client_id -> Nullable<Text>,
        received_on -> Date,
        channel -> Text,
        summary -> Text,
        status -> Text,
        due_on -> Date,
        outcome -> Nullable<Text>,
        recorded_by -> Text,
        recorded_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    legal_holds (id) {
        id -> Text,
        client_id -> Text,
        reason -> Text,
        placed_by -> Text,
        placed_at -> Timestamp,
        released_by -> Nullable<Text>,
        released_at -> Nullable<Timestamp>,
        release_reason -> Nullable<Text>,
    }
}

diesel::joinable!(notices_given -> collection_notices (notice_id));
diesel::joinable!(notices_given -> clients (client_id));
diesel::joinable!(consents -> clients (client_id));
diesel::joinable!(complaints -> clients (client_id));
diesel::joinable!(legal_holds -> clients (client_id));
diesel::allow_tables_to_appear_in_same_query!(
    collection_notices,
    notices_given,
    consents,
    complaints,
    legal_holds,
    clients,
);
// The outdated-notices report by CSP reads a CSP's allocations and their cases' notices.
diesel::allow_tables_to_appear_in_same_query!(notices_given, allocations);
diesel::allow_tables_to_appear_in_same_query!(notices_given, cases);

diesel::table! {
    retention_schedules (id) {
        id -> Text,
        service_type -> Nullable<Text>,
        archive_after_years -> Nullable<Integer>,
        dispose_after_years -> Integer,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    disposal_certificates (id) {
        id -> Text,
        disposed_at -> Timestamp,
        authorised_by -> Text,
        schedules -> Text,
        record_counts -> Text,
        client_id_hashes -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(retention_schedules, cases);

diesel::table! {
    access_requests (id) {
        id -> Text,
        client_id -> Text,
        received_on -> Date,
        requester -> Text,
        identity_verified -> Bool,
        status -> Text,
        due_on -> Date,
        reason -> Nullable<Text>,
        recorded_by -> Text,
        recorded_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    correction_requests (id) {
        id -> Text,
        client_id -> Text,
        received_on -> Date,
        field -> Text,
        requested_value -> Text,
        reason -> Text,
        status -> Text,
        due_on -> Date,
        refusal_reason -> Nullable<Text>,
        recorded_by -> Text,
        recorded_at -> Timestamp,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        version -> Integer,
    }
}

diesel::table! {
    client_statements (id) {
        id -> Text,
        client_id -> Text,
        field -> Text,
        statement -> Text,
        correction_request_id -> Text,
        recorded_by -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::joinable!(client_statements -> clients (client_id));
diesel::allow_tables_to_appear_in_same_query!(client_statements, clients);

diesel::table! {
    idempotency_key_clients (client_id, key_id) {
        client_id -> Text,
        key_id -> Text,
    }
}

diesel::table! {
    idempotency_keys (id) {
        id -> Text,
        principal_id -> Text,
        key_hash -> Text,
        request_hash -> Text,
        token -> Text,
        applied -> Bool,
        response_status -> Nullable<Integer>,
        response_headers -> Nullable<Text>,
        response_body -> Nullable<Text>,
        disclosure -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    changes (seq) {
        seq -> BigInt,
        resource_type -> Text,
        resource_id -> Text,
        client_id -> Text,
        changed_at -> Timestamp,
        protective_marking -> Integer,
    }
}

diesel::table! {
    change_audiences (audience_id, seq) {
        audience_id -> Text,
        seq -> BigInt,
    }
}

diesel::joinable!(change_audiences -> changes (seq));
diesel::allow_tables_to_appear_in_same_query!(changes, change_audiences);

diesel::table! {
    change_history (id) {
        id -> Text,
        resource_type -> Text,
        resource_id -> Text,
        client_id -> Text,
        case_id -> Nullable<Text>,
        action -> Text,
        reverts -> Nullable<Text>,
        changed_at -> Timestamp,
        changed_by -> Text,
        changed_by_kind -> Text,
        organisation_id -> Text,
        request_id -> Text,
        protective_marking -> Integer,
        fields -> Text,
        changes -> Text,
    }
}

diesel::table! {
    policy_documents (id) {
        id -> Text,
        kind -> Text,
        version -> Text,
        title -> Text,
        text -> Text,
        applies_to_roles -> Text,
        published_by -> Text,
        published_at -> Timestamp,
        superseded_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    policy_acceptances (user_id, document_id) {
        user_id -> Text,
        document_id -> Text,
        accepted_at -> Timestamp,
    }
}

diesel::joinable!(policy_acceptances -> policy_documents (document_id));
diesel::joinable!(policy_acceptances -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(policy_documents, policy_acceptances, users);
// The wrap-up annex groups a client's disclosing events by resource and fields.
diesel::allow_columns_to_appear_in_same_group_by_clause!(
    audit_event_clients::client_id,
    audit_events::resource_type,
    audit_events::fields,
);

diesel::table! {
    incident_reports (id) {
        id -> Text,
        kind -> Text,
        description -> Text,
        occurred_at -> Nullable<Timestamp>,
        involved_user_ids -> Text,
        client_ids -> Text,
        sessions_ended -> Bool,
        reported_by -> Text,
        reporter_organisation_id -> Text,
        reported_at -> Timestamp,
        status -> Text,
        breach_id -> Nullable<Text>,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::joinable!(incident_reports -> breaches (breach_id));
diesel::allow_tables_to_appear_in_same_query!(incident_reports, breaches);
