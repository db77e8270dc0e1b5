//! Splitting a restore line into words exactly as `iptables-restore` does
//! (`add_param_to_argv` in iptables' xshared.c): words split on space, tab
//! and newline; a double quote opens a quoted run in which `\` escapes the
//! next character and spaces are kept; the closing quote ends the word
//! (so `""` is an empty word). Single quotes are ordinary characters.

/// One word of a restore line with the byte column (1-based) it starts at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub column: usize,
}

/// Splits `line` into words. Fails on an unterminated quote, with the
/// column of the opening quote. (iptables-restore itself takes the rest of
/// the line, newline included, as the word: a comment that swallows the
/// rest of the rule is never what the operator meant, so sluice refuses it.)
pub fn split(line: &str) -> Result<Vec<Word>, (usize, String)> {
    let mut words = Vec::new();
    let mut buf = String::new();
    let mut start = 0usize;
    let mut quote_open = false;
    let mut escaped = false;
    let mut have_word = false;
    let mut quote_at = 0usize;
    // Columns count the file's bytes: a raw byte (see `bytes`) is one.
    let mut shrink = 0usize;
    for (i, ch) in line.char_indices() {
        let i = i - shrink;
        if super::bytes::raw_byte(ch).is_some() {
            shrink += ch.len_utf8() - 1;
        }
        if quote_open {
            if escaped {
                buf.push(ch);
                escaped = false;
                continue;
            } else if ch == '\\' {
                escaped = true;
                continue;
            } else if ch == '"' {
                quote_open = false;
                words.push(Word {
                    text: std::mem::take(&mut buf),
                    column: start + 1,
                });
                have_word = false;
                continue;
            } else {
                buf.push(ch);
                continue;
            }
        }
        match ch {
            '"' => {
                if !have_word {
                    start = i;
                    have_word = true;
                }
                quote_open = true;
                quote_at = i;
            }
            ' ' | '\t' | '\n' | '\r' => {
                if have_word {
                    words.push(Word {
                        text: std::mem::take(&mut buf),
                        column: start + 1,
                    });
                    have_word = false;
                }
            }
            _ => {
                if !have_word {
                    start = i;
                    have_word = true;
                }
                buf.push(ch);
            }
        }
    }
    if quote_open {
        let at = quote_at + 1;
        return Err((
            at,
            format!("unterminated quote: the `\"' at column {at} is never closed"),
        ));
    }
    if have_word {
        words.push(Word {
            text: buf,
            column: start + 1,
        });
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        split(line).unwrap().into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn splits_like_iptables_restore() {
        assert_eq!(
            texts("-A INPUT  -j ACCEPT"),
            ["-A", "INPUT", "-j", "ACCEPT"]
        );
        assert_eq!(texts(r#"--comment "a b" x"#), ["--comment", "a b", "x"]);
        assert_eq!(
            texts(r#"--comment "a \"q\" b""#),
            ["--comment", r#"a "q" b"#]
        );
        assert_eq!(texts(r#"x "" y"#), ["x", "", "y"]);
        assert_eq!(texts("--comment 'a b'"), ["--comment", "'a", "b'"]);
        assert_eq!(texts(r#"pre"fix""#), ["prefix"]);
    }

    #[test]
    fn columns_point_at_words() {
        let w = split("  -A  INPUT").unwrap();
        assert_eq!(w[0].column, 3);
        assert_eq!(w[1].column, 7);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert!(split(r#"--comment "abc"#).is_err());
    }
}
