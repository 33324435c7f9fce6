//! Names as a state department meets them: the communities it serves, each with its family
//! and given names ranked by frequency (a Zipf-like draw makes the first few common and the
//! last rare), plus the shapes that break naive matching: hyphenated and multi-part family
//! names, apostrophes, accents, and a tail of names that occur once.
use rand::Rng;
use rand::distributions::{Distribution, WeightedIndex};

/// One community: its share of clients, family names and given names (most frequent first),
/// the language an interpreter would use, and how often a date of birth is recorded as
/// 1 January because the real one is unknown (common in refugee arrivals' documents).
struct Community {
    share: f64,
    family: &'static [&'static str],
    female: &'static [&'static str],
    male: &'static [&'static str],
    language: Option<&'static str>,
    interpreter_rate: f64,
    first_of_january_rate: f64,
}

const ANGLO_FAMILY: &[&str] = &[
    "Smith",
    "Jones",
    "Williams",
    "Brown",
    "Wilson",
    "Taylor",
    "Johnson",
    "White",
    "Martin",
    "Anderson",
    "Thompson",
    "Walker",
    "Harris",
    "Lee",
    "Ryan",
    "Robinson",
    "Kelly",
    "King",
    "Davis",
    "Wright",
    "Evans",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Murphy",
    "O'Brien",
    "McDonald",
    "O'Connor",
    "Campbell",
    "Stewart",
    "Mitchell",
    "Young",
    "Hughes",
    "Edwards",
    "Hill",
    "Scott",
    "Cooper",
    "MacLeod",
    "Fitzgerald",
    "O'Sullivan",
    "McKenzie",
    "Gallagher",
    "Doherty",
    "Quinn",
    "Byrne",
    "Sheehan",
    "Dunne",
];
const ANGLO_FEMALE: &[&str] = &[
    "Charlotte",
    "Olivia",
    "Amelia",
    "Isla",
    "Mia",
    "Ava",
    "Grace",
    "Chloe",
    "Emily",
    "Sophie",
    "Jessica",
    "Sarah",
    "Emma",
    "Hannah",
    "Michelle",
    "Karen",
    "Lisa",
    "Susan",
    "Margaret",
    "Kylie",
    "Renée",
    "Zoë",
    "Siobhan",
    "Niamh",
    "Caitlin",
];
const ANGLO_MALE: &[&str] = &[
    "Oliver", "Jack", "William", "Noah", "Thomas", "James", "Lucas", "Henry", "Liam", "Ethan",
    "Michael", "David", "Daniel", "Matthew", "Andrew", "Peter", "John", "Mark", "Shane", "Brendan",
    "Seán", "Ciarán", "Declan", "Callum", "Angus",
];
const ITALIAN_FAMILY: &[&str] = &[
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "De Luca",
    "Di Stefano",
    "La Rosa",
    "D'Angelo",
    "Lo Presti",
    "Mancini",
    "Costa",
    "Giordano",
    "Lombardi",
    "Moretti",
    "Barbieri",
    "Caruso",
];
const ITALIAN_FEMALE: &[&str] = &[
    "Giulia",
    "Maria",
    "Francesca",
    "Sofia",
    "Chiara",
    "Lucia",
    "Angela",
    "Rosa",
    "Carmela",
    "Antonella",
];
const ITALIAN_MALE: &[&str] = &[
    "Giuseppe",
    "Antonio",
    "Marco",
    "Luca",
    "Francesco",
    "Salvatore",
    "Giovanni",
    "Nicolò",
    "Domenico",
    "Vincenzo",
];
const GREEK_FAMILY: &[&str] = &[
    "Papadopoulos",
    "Georgiou",
    "Nikolaidis",
    "Christodoulou",
    "Ioannou",
    "Dimitriou",
    "Konstantinidis",
    "Vlahos",
    "Kyriakou",
    "Pappas",
    "Karagiannis",
    "Antonopoulos",
    "Economou",
    "Theodorou",
    "Stavrou",
];
const GREEK_FEMALE: &[&str] = &[
    "Maria",
    "Eleni",
    "Katerina",
    "Sofia",
    "Despina",
    "Georgia",
    "Anastasia",
    "Vasiliki",
];
const GREEK_MALE: &[&str] = &[
    "Georgios",
    "Nikolaos",
    "Konstantinos",
    "Dimitrios",
    "Ioannis",
    "Christos",
    "Spiros",
    "Panagiotis",
];
const VIETNAMESE_FAMILY: &[&str] = &[
    "Nguyen", "Tran", "Le", "Pham", "Huynh", "Hoang", "Phan", "Vu", "Vo", "Dang", "Bui", "Do",
    "Ho", "Ngo", "Duong", "Ly", "Nguyễn", "Trần", "Lê", "Phạm", "Đặng",
];
const VIETNAMESE_FEMALE: &[&str] = &[
    "Linh", "Thi", "Lan", "Mai", "Huong", "Ngoc", "Thao", "Trang", "Anh", "Hanh", "Phương", "Thủy",
];
const VIETNAMESE_MALE: &[&str] = &[
    "Minh", "Van", "Duc", "Tuan", "Hung", "Quang", "Thanh", "Long", "Khoa", "Huy", "Đức", "Dũng",
];
const CHINESE_FAMILY: &[&str] = &[
    "Wang", "Li", "Zhang", "Chen", "Liu", "Wong", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Chan",
    "Lin", "Xu", "Sun", "Ma", "Zhu", "Hu", "Guo", "Ng", "Leung", "Cheung", "Lau", "Tang", "Ho",
    "Gao", "Luo", "Yeung", "Kwok", "Tse",
];
const CHINESE_FEMALE: &[&str] = &[
    "Jing", "Li", "Mei", "Xin", "Yan", "Ling", "Hui", "Yu", "Xiaoling", "Ying", "Fang", "Wen",
];
const CHINESE_MALE: &[&str] = &[
    "Wei", "Jun", "Hao", "Jie", "Ming", "Kai", "Lei", "Tao", "Zhen", "Xiaoming", "Bo", "Yong",
];
const INDIAN_FAMILY: &[&str] = &[
    "Singh", "Patel", "Sharma", "Kumar", "Kaur", "Shah", "Gupta", "Reddy", "Nair", "Iyer", "Joshi",
    "Mehta", "Rao", "Chopra", "Malhotra", "Pillai", "Desai", "Verma", "Bhatt", "Menon", "Sandhu",
    "Gill", "Dhillon",
];
const INDIAN_FEMALE: &[&str] = &[
    "Priya",
    "Ananya",
    "Aishwarya",
    "Deepa",
    "Kavya",
    "Pooja",
    "Sunita",
    "Harpreet",
    "Gurpreet",
    "Lakshmi",
    "Meera",
    "Nisha",
];
const INDIAN_MALE: &[&str] = &[
    "Arjun", "Rahul", "Vikram", "Amit", "Rajesh", "Sanjay", "Harjit", "Manpreet", "Aditya",
    "Karan", "Ravi", "Suresh",
];
const ARABIC_FAMILY: &[&str] = &[
    "Haddad",
    "Khoury",
    "El-Khoury",
    "Nasser",
    "Saad",
    "Hanna",
    "Ibrahim",
    "Hassan",
    "Al Hassan",
    "Abou Jaoude",
    "Mansour",
    "Fakhoury",
    "Chahine",
    "Saleh",
    "Rahme",
    "Daher",
    "Kassem",
    "Abdallah",
    "Al-Amin",
    "Younes",
];
const ARABIC_FEMALE: &[&str] = &[
    "Fatima", "Mariam", "Layla", "Nour", "Rania", "Zeinab", "Amira", "Hiba", "Yasmin", "Rita",
];
const ARABIC_MALE: &[&str] = &[
    "Mohammad", "Ahmad", "Ali", "Hussein", "Omar", "Khaled", "Bilal", "Youssef", "Charbel", "Elie",
];
const SUDANESE_FAMILY: &[&str] = &[
    "Deng", "Garang", "Majok", "Akol", "Bol", "Kuol", "Mabior", "Ajak", "Nyuon", "Mayen", "Chol",
    "Malual", "Ater", "Dut", "Makuei",
];
const SUDANESE_FEMALE: &[&str] = &[
    "Achol", "Nyandeng", "Abuk", "Ayen", "Adut", "Nyibol", "Akuol", "Apajok",
];
const SUDANESE_MALE: &[&str] = &[
    "John", "Peter", "Mabior", "Deng", "Garang", "Makur", "Mayom", "Ajang",
];
const SOMALI_FAMILY: &[&str] = &[
    "Mohamed",
    "Ahmed",
    "Ali",
    "Hassan",
    "Abdi",
    "Omar",
    "Farah",
    "Warsame",
    "Jama",
    "Osman",
    "Abdullahi",
    "Hussein",
    "Yusuf",
    "Aden",
    "Nur",
];
const SOMALI_FEMALE: &[&str] = &[
    "Hodan", "Amina", "Fadumo", "Sahra", "Hibaaq", "Asha", "Ifrah", "Ubah",
];
const SOMALI_MALE: &[&str] = &[
    "Abdirahman",
    "Mohamed",
    "Abdullahi",
    "Hassan",
    "Liban",
    "Guled",
    "Mahad",
    "Bashir",
];
const FILIPINO_FAMILY: &[&str] = &[
    "Santos",
    "Reyes",
    "Cruz",
    "Bautista",
    "Garcia",
    "Mendoza",
    "Dela Cruz",
    "De Guzman",
    "Villanueva",
    "Ramos",
    "Aquino",
    "Castillo",
    "Flores",
    "Navarro",
    "Del Rosario",
];
const FILIPINO_FEMALE: &[&str] = &[
    "Maria", "Cristina", "Rowena", "Jocelyn", "Marites", "Analyn", "Rosalie", "Liza",
];
const FILIPINO_MALE: &[&str] = &[
    "Jose", "Juan", "Mark", "Ramon", "Rodel", "Jericho", "Paolo", "Danilo",
];
/// Family names of Aboriginal and Torres Strait Islander clients: many carry English family
/// names (listed first, as most frequent), others names from their own languages.
const FIRST_NATIONS_FAMILY: &[&str] = &[
    "Smith",
    "Williams",
    "Brown",
    "Thomas",
    "Walker",
    "Johnson",
    "Roberts",
    "Hill",
    "Anderson",
    "Clarke",
    "Mundine",
    "Wanganeen",
    "Yunupingu",
    "Marika",
    "Gurruwiwi",
    "Mabo",
    "Nona",
    "Ahmat",
    "Bani",
    "Pitt",
    "Passi",
    "Kanakae",
    "Tipoti",
    "Djerrkura",
    "Briggs",
    "Couzens",
    "Onus",
    "Atkinson",
    "Morgan",
    "Lovett",
];
const FIRST_NATIONS_FEMALE: &[&str] = &[
    "Tanya",
    "Kirra",
    "Jarrah",
    "Alinta",
    "Leah",
    "Shantelle",
    "Mary",
    "Kaylene",
    "Tahlia",
    "Marlee",
];
const FIRST_NATIONS_MALE: &[&str] = &[
    "Jarrod", "Adam", "Tyson", "Koby", "Bradley", "Lionel", "Dane", "Jai", "Kurtis", "Ricky",
];
/// Families of European origin with particles, umlauts and diacritics.
const EUROPEAN_FAMILY: &[&str] = &[
    "van der Berg",
    "de Jong",
    "van den Broek",
    "Janssen",
    "Müller",
    "Schmidt",
    "Schröder",
    "Kowalski",
    "Nowak",
    "Wiśniewska",
    "Dvořák",
    "Novák",
    "Horvat",
    "Kovačević",
    "Sørensen",
    "Ødegaard",
    "García",
    "Núñez",
    "Fernández",
    "Gonçalves",
    "da Silva",
    "dos Santos",
];
const EUROPEAN_FEMALE: &[&str] = &[
    "Anna",
    "Katarzyna",
    "Agnieszka",
    "Ingrid",
    "Søren",
    "Anaïs",
    "Chloé",
    "María José",
    "Lucía",
    "Ana",
];
const EUROPEAN_MALE: &[&str] = &[
    "Piotr", "Jan", "Lars", "Jürgen", "Stefan", "José", "Tomáš", "Luka", "Joaquín", "João",
];

const COMMUNITIES: &[Community] = &[
    Community {
        share: 0.47,
        family: ANGLO_FAMILY,
        female: ANGLO_FEMALE,
        male: ANGLO_MALE,
        language: None,
        interpreter_rate: 0.0,
        first_of_january_rate: 0.0,
    },
    Community {
        share: 0.05,
        family: ITALIAN_FAMILY,
        female: ITALIAN_FEMALE,
        male: ITALIAN_MALE,
        language: Some("Italian"),
        interpreter_rate: 0.10,
        first_of_january_rate: 0.0,
    },
    Community {
        share: 0.04,
        family: GREEK_FAMILY,
        female: GREEK_FEMALE,
        male: GREEK_MALE,
        language: Some("Greek"),
        interpreter_rate: 0.10,
        first_of_january_rate: 0.0,
    },
    Community {
        share: 0.07,
        family: VIETNAMESE_FAMILY,
        female: VIETNAMESE_FEMALE,
        male: VIETNAMESE_MALE,
        language: Some("Vietnamese"),
        interpreter_rate: 0.35,
        first_of_january_rate: 0.02,
    },
    Community {
        share: 0.08,
        family: CHINESE_FAMILY,
        female: CHINESE_FEMALE,
        male: CHINESE_MALE,
        language: Some("Mandarin"),
        interpreter_rate: 0.30,
        first_of_january_rate: 0.0,
    },
    Community {
        share: 0.07,
        family: INDIAN_FAMILY,
        female: INDIAN_FEMALE,
        male: INDIAN_MALE,
        language: Some("Punjabi"),
        interpreter_rate: 0.15,
        first_of_january_rate: 0.01,
    },
    Community {
        share: 0.05,
        family: ARABIC_FAMILY,
        female: ARABIC_FEMALE,
        male: ARABIC_MALE,
        language: Some("Arabic"),
        interpreter_rate: 0.30,
        first_of_january_rate: 0.05,
    },
    Community {
        share: 0.02,
        family: SUDANESE_FAMILY,
        female: SUDANESE_FEMALE,
        male: SUDANESE_MALE,
        language: Some("Dinka"),
        interpreter_rate: 0.40,
        first_of_january_rate: 0.40,
    },
    Community {
        share: 0.015,
        family: SOMALI_FAMILY,
        female: SOMALI_FEMALE,
        male: SOMALI_MALE,
        language: Some("Somali"),
        interpreter_rate: 0.45,
        first_of_january_rate: 0.40,
    },
    Community {
        share: 0.03,
        family: FILIPINO_FAMILY,
        female: FILIPINO_FEMALE,
        male: FILIPINO_MALE,
        language: Some("Tagalog"),
        interpreter_rate: 0.05,
        first_of_january_rate: 0.0,
    },
    Community {
        share: 0.06,
        family: FIRST_NATIONS_FAMILY,
        female: FIRST_NATIONS_FEMALE,
        male: FIRST_NATIONS_MALE,
        language: None,
        interpreter_rate: 0.0,
        first_of_january_rate: 0.0,
    },
    Community {
        share: 0.045,
        family: EUROPEAN_FAMILY,
        female: EUROPEAN_FEMALE,
        male: EUROPEAN_MALE,
        language: Some("Polish"),
        interpreter_rate: 0.05,
        first_of_january_rate: 0.0,
    },
];

/// Syllables of the names that occur once: made-up, so they are rare by construction.
const RARE_STARTS: &[&str] = &[
    "Ka", "Zor", "Bel", "Mir", "Tav", "Quen", "Os", "Dra", "Vel", "Nim", "Har", "Sel", "Ubo",
    "Fen", "Yar", "Gwy", "Ilo", "Pra",
];
const RARE_MIDDLES: &[&str] = &[
    "", "ra", "ven", "lo", "tis", "mar", "ze", "nor", "ki", "bel", "da", "sho",
];
const RARE_ENDS: &[&str] = &[
    "ski", "ova", "ston", "wick", "ard", "ian", "ez", "ou", "ak", "berg", "ley", "mann", "idis",
    "enko", "aj",
];

/// A drawn person: names, gender, the interpreter language if one is needed, and whether
/// the date of birth is recorded as 1 January.
pub struct Person {
    pub given_name: String,
    pub family_name: String,
    pub gender: Option<&'static str>,
    pub interpreter_language: Option<&'static str>,
    pub first_of_january: bool,
}

/// The draws, prepared once: a Zipf-like weight 1/(rank + 1) per list.
pub struct Names {
    community: WeightedIndex<f64>,
    per_community: Vec<[WeightedIndex<f64>; 3]>,
}

fn zipf(len: usize) -> WeightedIndex<f64> {
    WeightedIndex::new((0..len).map(|rank| 1.0 / (rank as f64 + 1.0)))
        .expect("name lists are not empty")
}

impl Default for Names {
    fn default() -> Self {
        Self {
            community: WeightedIndex::new(COMMUNITIES.iter().map(|c| c.share))
                .expect("shares are positive"),
            per_community: COMMUNITIES
                .iter()
                .map(|c| {
                    [
                        zipf(c.family.len()),
                        zipf(c.female.len()),
                        zipf(c.male.len()),
                    ]
                })
                .collect(),
        }
    }
}

impl Names {
    pub fn person(&self, rng: &mut impl Rng) -> Person {
        let index = self.community.sample(rng);
        let (community, [family, female, male]) = (&COMMUNITIES[index], &self.per_community[index]);
        let gender_draw: f64 = rng.r#gen();
        let (given_name, gender) = if gender_draw < 0.49 {
            (community.female[female.sample(rng)], Some("female"))
        } else if gender_draw < 0.97 {
            (community.male[male.sample(rng)], Some("male"))
        } else if gender_draw < 0.985 {
            // Non-binary clients here carry a name from either list.
            (community.female[female.sample(rng)], Some("non-binary"))
        } else {
            (community.male[male.sample(rng)], None)
        };
        let shape: f64 = rng.r#gen();
        let family_name = if shape < 0.03 {
            rare_name(rng)
        } else if shape < 0.07 {
            // Hyphenated: two names of the community, or one from another.
            let other = &COMMUNITIES[self.community.sample(rng)];
            format!(
                "{}-{}",
                community.family[family.sample(rng)],
                pick(rng, other.family)
            )
        } else {
            community.family[family.sample(rng)].to_owned()
        };
        let interpreter_language = community
            .language
            .filter(|_| rng.gen_bool(community.interpreter_rate));
        Person {
            given_name: given_name.to_owned(),
            family_name,
            gender,
            interpreter_language,
            first_of_january: rng.gen_bool(community.first_of_january_rate),
        }
    }

    /// A staff member's given and family name (staff come from the same communities).
    pub fn staff(&self, rng: &mut impl Rng) -> (String, String) {
        let person = self.person(rng);
        (person.given_name, person.family_name)
    }
}

/// One item of `list`, each as likely.
pub fn pick<'a, T>(rng: &mut impl Rng, list: &'a [T]) -> &'a T {
    &list[rng.gen_range(0..list.len())]
}

fn rare_name(rng: &mut impl Rng) -> String {
    format!(
        "{}{}{}",
        pick(rng, RARE_STARTS),
        pick(rng, RARE_MIDDLES),
        pick(rng, RARE_ENDS)
    )
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn shares_add_up_to_one() {
        let total: f64 = COMMUNITIES.iter().map(|c| c.share).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
    }

    #[test]
    fn common_names_are_frequent_and_rare_names_occur() {
        let names = Names::default();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut counts = std::collections::HashMap::<String, usize>::new();
        for _ in 0..20_000 {
            *counts
                .entry(names.person(&mut rng).family_name)
                .or_default() += 1;
        }
        assert!(counts["Smith"] > 500, "Smith: {}", counts["Smith"]);
        assert!(counts.values().filter(|n| **n == 1).count() > 50);
        assert!(counts.keys().any(|name| name.contains('-')));
        assert!(counts.keys().any(|name| name.contains(' ')));
        assert!(counts.keys().any(|name| !name.is_ascii()));
    }
}
