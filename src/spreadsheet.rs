//! CSV for spreadsheets. Every CSV the service writes goes through [`Writer`], and every text
//! cell through [`neutralise`], so that a value someone typed (a display name such as
//! `=HYPERLINK(...)`) opens in the reader's spreadsheet as text, never as a formula (CSV or
//! formula injection; the OWASP advice).
//!
//! The rule, and the choices behind it:
//! - A text cell whose first character, after any leading whitespace, is one a spreadsheet
//!   reads as the start of a formula (`=`, `+`, `-`, `@`, and their full-width forms, which
//!   some spreadsheets accept too), or which starts with a tab or a carriage return, is
//!   written with a single quote in front. Spreadsheets show such a cell as the text after
//!   the quote; other readers see the quote.
//! - The rule does not look further at the text: a phone number `+61 400 000 000` or a text
//!   `-5` gets the quote as well. A narrower rule ("unless it is a plain number") would be a
//!   parser an attacker could probe, and the quote keeps `+61400000000` from being read as
//!   the number 61400000000, losing its `+` (as the spreadsheet would otherwise do).
//! - Numbers the service writes from numeric values ([`Cell::Number`]: counts) are written
//!   as they are, negative ones included: they cannot hold a formula.
//! - Every cell is enclosed in double quotes, so that a spreadsheet splitting on another
//!   separator (`;` in many locales) cannot cut a cell into pieces that start a formula.
use std::borrow::Cow;

/// The characters that make a spreadsheet read a cell as a formula when they come first.
const FORMULA_STARTS: [char; 8] = ['=', '+', '-', '@', '＝', '＋', '－', '＠'];

/// The cell `text`, safe to open in a spreadsheet: prefixed with `'` when a spreadsheet
/// would read it as a formula. Idempotent.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    let control = text.starts_with(['\t', '\r']);
    let formula = text.trim_start().starts_with(FORMULA_STARTS);
    if control || formula {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// One cell: text (neutralised when written), or a number the service computed.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(serde_json::Number),
}

impl Cell {
    fn written(&self) -> Cow<'_, str> {
        match self {
            Cell::Text(text) => neutralise(text),
            Cell::Number(number) => Cow::Owned(number.to_string()),
        }
    }
}

/// A CSV document being written: a header row of column names, then one row per record.
pub struct Writer(csv::Writer<Vec<u8>>);

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

impl Writer {
    pub fn new() -> Self {
        Self(
            csv::WriterBuilder::new()
                .quote_style(csv::QuoteStyle::Always)
                .from_writer(Vec::new()),
        )
    }

    /// The header row: column names are text cells like any other.
    pub fn header<'a>(&mut self, columns: impl IntoIterator<Item = &'a str>) -> csv::Result<()> {
        self.0.write_record(
            columns
                .into_iter()
                .map(|column| neutralise(column).into_owned()),
        )
    }

    pub fn row(&mut self, cells: impl IntoIterator<Item = Cell>) -> csv::Result<()> {
        let cells: Vec<Cell> = cells.into_iter().collect();
        self.0
            .write_record(cells.iter().map(|cell| cell.written().into_owned()))
    }

    /// The document's text.
    pub fn finish(self) -> anyhow::Result<String> {
        let bytes = self.0.into_inner().map_err(|error| error.into_error())?;
        Ok(String::from_utf8(bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_get_a_quote() {
        for text in [
            "=HYPERLINK(\"https://x.example\",\"open\")",
            "@SUM(A1:A9)",
            "+1+1",
            "-2+3",
            "\t=1",
            "\r=1",
            "  =1+1",
            "\n@SUM(1)",
            "＝1+1",
        ] {
            assert_eq!(neutralise(text), format!("'{text}"), "{text:?}");
        }
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        for text in [
            "Jo Citizen",
            "a=b",
            "O'Brien",
            "",
            "1+1",
            "user@example.org",
        ] {
            assert_eq!(neutralise(text), text);
        }
    }

    #[test]
    fn text_that_looks_like_a_signed_number_is_quoted_too() {
        assert_eq!(neutralise("+61 400 000 000"), "'+61 400 000 000");
        assert_eq!(neutralise("-5"), "'-5");
    }

    #[test]
    fn neutralising_twice_changes_nothing_more() {
        let once = neutralise("=1+1").into_owned();
        assert_eq!(neutralise(&once), once);
    }

    #[test]
    fn numbers_are_written_as_numbers_and_every_cell_is_quoted() {
        let mut writer = Writer::new();
        writer.header(["name", "count"]).unwrap();
        writer
            .row([
                Cell::Text("=cmd|' /C calc'!A0".into()),
                Cell::Number((-3).into()),
            ])
            .unwrap();
        assert_eq!(
            writer.finish().unwrap(),
            "\"name\",\"count\"\n\"'=cmd|' /C calc'!A0\",\"-3\"\n"
        );
    }
}
