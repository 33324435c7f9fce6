//! The text of the synthetic department: providers, addresses, services and case notes,
//! short and plausible (a caseworker's note is a few lines, not a page).
use rand::Rng;
use unicode_normalization::UnicodeNormalization;

use super::names::{Person, pick};

pub const OLD_NOTICE_TEXT: &str = "The department collects your information to provide the \
    services you asked for and shares it with the providers it funds. You can ask to see or \
    correct it.";

const CSP_PLACES: &[&str] = &[
    "Westside",
    "Bayside",
    "Hume",
    "Loddon",
    "Gippsland",
    "Barwon",
    "Goulburn",
    "Mallee",
    "Wimmera",
    "Ovens",
    "Yarra",
    "Merri",
    "Darebin",
    "Maribyrnong",
    "Casey",
    "Frankston",
    "Geelong",
    "Ballarat",
    "Bendigo",
    "Latrobe",
];
const CSP_KINDS: &[&str] = &[
    "Community Housing",
    "Family Care",
    "Youth Services",
    "Aboriginal Co-operative",
    "Migrant Resource Centre",
    "Tenancy Advocacy",
    "Outreach Network",
    "Support Services",
];

/// The name of generated CSP `index`: a region and a kind of service, unique per index.
pub fn csp_name(index: usize) -> String {
    let place = CSP_PLACES[index % CSP_PLACES.len()];
    let kind = CSP_KINDS[(index / CSP_PLACES.len() + index) % CSP_KINDS.len()];
    format!("{place} {kind}")
}

/// Lower-case ASCII letters and digits of `text`, accents dropped, other characters as
/// dots; for usernames and e-mail addresses.
pub fn slug(text: &str) -> String {
    let mut slug = String::new();
    for c in text.nfd().filter(char::is_ascii) {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('.') && !slug.is_empty() {
            slug.push('.');
        }
    }
    slug.trim_end_matches('.').to_owned()
}

pub const PREFERRED_NAMES: &[&str] = &[
    "Sunny", "Jo", "Sam", "Alex", "Bella", "Mo", "Tom", "Kate", "Nicky", "Max", "Lily", "Ben",
];

pub const SAFETY_ALERTS: &[&str] = &[
    "Dog at property",
    "Do not visit alone",
    "History of aggression towards staff",
    "Intervention order in place",
    "Client hard of hearing: face them when speaking",
    "Contact by text only",
];

/// `(suburb, postcode)` in the state, most clients' addresses.
const SUBURBS: &[(&str, &str)] = &[
    ("Brunswick", "3056"),
    ("Footscray", "3011"),
    ("Preston", "3072"),
    ("Dandenong", "3175"),
    ("Sunshine", "3020"),
    ("Broadmeadows", "3047"),
    ("Frankston", "3199"),
    ("Werribee", "3030"),
    ("Springvale", "3171"),
    ("Reservoir", "3073"),
    ("Geelong", "3220"),
    ("Ballarat Central", "3350"),
    ("Bendigo", "3550"),
    ("Morwell", "3840"),
    ("Shepparton", "3630"),
    ("Mildura", "3500"),
    ("Richmond", "3121"),
    ("St Albans", "3021"),
    ("Craigieburn", "3064"),
    ("Pakenham", "3810"),
    ("Cranbourne", "3977"),
    ("Thomastown", "3074"),
    ("Collingwood", "3066"),
    ("Fitzroy", "3065"),
];
const STREETS: &[&str] = &[
    "High",
    "Station",
    "Church",
    "Victoria",
    "Main",
    "Albert",
    "King",
    "Queen",
    "William",
    "Nicholson",
    "Sydney",
    "Hope",
    "Barkly",
    "Gordon",
    "Wattle",
    "Banksia",
];
const STREET_TYPES: &[&str] = &["Street", "Road", "Avenue", "Court", "Crescent", "Parade"];

pub struct Address {
    pub line1: String,
    pub line2: Option<String>,
    pub suburb: &'static str,
    pub state: &'static str,
    pub postcode: &'static str,
}

/// The optional contact details, each filled in as often as intake forms manage to.
pub struct Contact {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<Address>,
}

pub fn contact(rng: &mut impl Rng, person: &Person) -> Contact {
    let phone = rng.gen_bool(0.7).then(|| {
        if rng.gen_bool(0.85) {
            format!("04{:08}", rng.gen_range(0..100_000_000u32))
        } else {
            format!(
                "03 9{:03} {:04}",
                rng.gen_range(0..1000),
                rng.gen_range(0..10_000)
            )
        }
    });
    let email = rng.gen_bool(0.45).then(|| {
        format!(
            "{}.{}{}@{}",
            slug(&person.given_name),
            slug(&person.family_name),
            rng.gen_range(1..100),
            pick(rng, &["mail.example", "inbox.example", "post.example"])
        )
    });
    let address = rng.gen_bool(0.8).then(|| {
        let (suburb, postcode) = *pick(rng, SUBURBS);
        Address {
            line1: format!(
                "{} {} {}",
                rng.gen_range(1..400),
                pick(rng, STREETS),
                pick(rng, STREET_TYPES)
            ),
            line2: rng
                .gen_bool(0.15)
                .then(|| format!("Unit {}", rng.gen_range(1..40))),
            suburb,
            // A state department's clients live in its state, a few across the border.
            state: if rng.gen_bool(0.97) { "VIC" } else { "NSW" },
            postcode,
        }
    });
    Contact {
        phone,
        email,
        address,
    }
}

pub fn gp(rng: &mut impl Rng) -> String {
    format!(
        "Dr {}, {} Medical Centre",
        pick(
            rng,
            &[
                "Nguyen", "Smith", "Patel", "Chen", "Haddad", "Kelly", "Rossi"
            ]
        ),
        pick(rng, SUBURBS).0
    )
}

/// Per division (Housing Support, Family Services): its services.
pub const SERVICE_TYPES: [&[&str]; 2] = [
    &[
        "tenancy support",
        "homelessness prevention",
        "crisis accommodation",
        "private rental assistance",
        "social housing application",
    ],
    &[
        "family support",
        "parenting program",
        "child safety planning",
        "family violence support",
        "financial counselling",
    ],
];

pub fn case_summary(rng: &mut impl Rng, service_type: &str) -> String {
    let goal = pick(
        rng,
        &[
            "stable housing within 90 days",
            "sustain the current tenancy",
            "safety plan in place and reviewed monthly",
            "connect the family with local services",
            "reduce rent arrears to nil",
            "school attendance above 90 per cent",
        ],
    );
    format!("Referred for {service_type}: {goal}.")
}

pub fn service_description(service_type: &str) -> String {
    format!("Weekly {service_type} visits and phone contact")
}

const OPENINGS: &[&str] = &[
    "Home visit completed.",
    "Phone call with client.",
    "Client attended the office.",
    "Text messages exchanged with client.",
    "Met client at the library.",
    "Call from the client's sister.",
    "Case conference with the school and the GP.",
    "Email received from the real estate agent.",
];
const TOPICS: &[&str] = &[
    "Discussed rent arrears and a repayment plan",
    "Reviewed the safety plan",
    "Talked through the housing application",
    "Followed up the Centrelink payment",
    "Client reports the heater is broken",
    "Client is worried about the upcoming court date",
    "Children are attending school regularly",
    "Client has started the parenting course",
    "Discussed options for crisis accommodation",
    "Client declined a referral to counselling for now",
];
const OUTCOMES: &[&str] = &[
    "Next visit in two weeks.",
    "Will call back on Friday.",
    "Referral sent.",
    "No further action needed this week.",
    "Client to bring documents next time.",
    "Team leader informed.",
];

/// A note of `note_type`: an opening, a topic and an outcome, or an amendment's correction.
pub fn note_body(rng: &mut impl Rng, note_type: &str, amendment: bool) -> String {
    if amendment {
        return format!(
            "Correction to an earlier note: {}. {}",
            pick(rng, TOPICS).to_lowercase(),
            pick(rng, OUTCOMES)
        );
    }
    let opening = match note_type {
        "assessment" => "Assessment updated.",
        "case_conference" => "Case conference held.",
        _ => pick(rng, OPENINGS),
    };
    format!("{opening} {}. {}", pick(rng, TOPICS), pick(rng, OUTCOMES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lower_case_ascii() {
        assert_eq!(slug("Nguyễn"), "nguyen");
        assert_eq!(slug("van der Berg"), "van.der.berg");
        assert_eq!(slug("O'Brien-Lee"), "o.brien.lee");
    }

    #[test]
    fn csp_names_are_unique() {
        let names: std::collections::HashSet<String> = (0..40).map(csp_name).collect();
        assert_eq!(names.len(), 40);
    }
}
