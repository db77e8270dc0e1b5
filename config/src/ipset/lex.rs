//! The words of a line, as `ipset restore` splits them.

use super::error::SetsError;

/// One word of a line and the 1-based character column it starts at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word {
    pub(super) text: String,
    pub(super) column: usize,
    /// Set when the word had a quoted run (then `#` is not a comment).
    pub(super) quoted_from: Option<usize>,
}

/// Splits a line as `ipset restore` does: blanks separate words; `"`
/// toggles a quoted run and is dropped. Fails on an unterminated quote.
pub(super) fn split(line: &str) -> Result<Vec<Word>, (usize, SetsError)> {
    let mut words = Vec::new();
    let mut cur: Option<Word> = None;
    let mut quote_col = None;
    for (col, ch) in (1..).zip(line.chars()) {
        if quote_col.is_some() {
            if ch == '"' {
                quote_col = None;
            } else if let Some(w) = cur.as_mut() {
                w.text.push(ch);
            }
            continue;
        }
        match ch {
            ' ' | '\t' | '\r' | '\n' => {
                if let Some(w) = cur.take() {
                    words.push(w);
                }
            }
            _ => {
                let w = cur.get_or_insert_with(|| Word {
                    text: String::new(),
                    column: col,
                    quoted_from: None,
                });
                if ch == '"' {
                    quote_col = Some(col);
                    w.quoted_from.get_or_insert(col);
                } else {
                    w.text.push(ch);
                }
            }
        }
    }
    if let Some(col) = quote_col {
        return Err((col, SetsError::UnterminatedQuote));
    }
    words.extend(cur);
    Ok(words)
}
