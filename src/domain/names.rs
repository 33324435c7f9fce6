//! Tolerant name matching for finding a client: case, accents, hyphens, spaces and
//! apostrophes do not matter, small misspellings cost a little, and one part of a
//! double-barrelled name matches it.
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// How alike two names must be (Jaro-Winkler, 0 to 1) to count as a match: above one
/// transposed or wrong letter in a six-letter name, below a different name.
pub const MATCH_THRESHOLD: f64 = 0.88;

/// A name reduced to what identifies it: lower case letters and digits, accents removed.
pub fn normalise(name: &str) -> String {
    name.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// How alike `query` is to `name` (0 to 1): the whole names compared once normalised, or
/// the query against any one part of a name of several parts ("Smith" finds "Smith-Lee").
pub fn similarity(query: &str, name: &str) -> f64 {
    let query = normalise(query);
    if query.is_empty() {
        return 0.0;
    }
    let parts = name
        .split(|c: char| c == '-' || c.is_whitespace())
        .map(normalise)
        .filter(|part| !part.is_empty());
    std::iter::once(normalise(name))
        .chain(parts)
        .map(|candidate| strsim::jaro_winkler(&query, &candidate))
        .fold(0.0, f64::max)
}

/// The candidates whose family name (and given name, when asked) match, best first, at most
/// `limit`. `names` gives a candidate's (given, family) names.
pub fn best_matches<T>(
    candidates: Vec<T>,
    names: impl Fn(&T) -> (&str, &str),
    family_name: &str,
    given_name: Option<&str>,
    limit: usize,
) -> Vec<T> {
    let mut scored: Vec<(f64, T)> = candidates
        .into_iter()
        .filter_map(|candidate| {
            let (given, family) = names(&candidate);
            let family_score = similarity(family_name, family);
            let given_score = given_name.map_or(1.0, |query| similarity(query, given));
            (family_score >= MATCH_THRESHOLD && given_score >= MATCH_THRESHOLD)
                .then_some((family_score + given_score, candidate))
        })
        .collect();
    // Equal scores keep the database's order (by id), so a search always answers alike.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored
        .into_iter()
        .take(limit)
        .map(|(_, candidate)| candidate)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_accents_hyphens_and_spaces_do_not_matter() {
        assert_eq!(normalise("  Zoë O'Brien-Núñez "), "zoeobriennunez");
        assert_eq!(similarity("obrien nunez", "O'Brien-Núñez"), 1.0);
        assert_eq!(similarity("NGUYEN", "nguyen"), 1.0);
    }

    #[test]
    fn small_misspellings_match_and_other_names_do_not() {
        assert!(similarity("Nguyan", "Nguyen") >= MATCH_THRESHOLD);
        assert!(similarity("Kowalsky", "Kowalski") >= MATCH_THRESHOLD);
        assert!(similarity("Smith", "Smith-Lee") >= MATCH_THRESHOLD);
        assert!(similarity("Patel", "Tanaka") < MATCH_THRESHOLD);
        assert!(similarity("Hana", "Hanna") >= MATCH_THRESHOLD);
        assert!(similarity("Singh", "Smith") < MATCH_THRESHOLD);
        assert_eq!(similarity("", "Smith"), 0.0);
    }

    #[test]
    fn the_closest_names_come_first_and_others_are_left_out() {
        let people = vec![
            ("Hana", "Tanaka"),
            ("Hanna", "Tanaka"),
            ("Hana", "Tanaka-Reid"),
            ("Leila", "Tanaka"),
            ("Hana", "Patel"),
        ];
        let found = best_matches(people, |p| (p.0, p.1), "tanaka", Some("Hana"), 20);
        assert_eq!(found[0], ("Hana", "Tanaka"));
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(!found.contains(&("Leila", "Tanaka")));
        let first_two = best_matches(found, |p| (p.0, p.1), "Tanaka", None, 2);
        assert_eq!(first_two.len(), 2);
    }
}
