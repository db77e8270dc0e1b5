//! `-m comment --comment TEXT`: always matches; carries the operator's note
//! (libxt_comment: at most 255 characters).

use super::parse::save_string;
use super::{no_invert, required, Cx, Extension, Opt};
use crate::iptables::model::Rule;

/// The comment text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comment {
    pub text: Option<String>,
}

impl Extension for Comment {
    const OPTIONS: &'static [Opt] = &[Opt::new("comment", 1)];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        no_invert(id, invert)?;
        let len = crate::iptables::bytes::byte_len(&args[0]);
        if len > 255 {
            return Err(format!(
                "comment may not exceed 255 characters (this one has {len})"
            ));
        }
        self.text = Some(args[0].clone());
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        required(&self.text, "comment")
    }

    fn save(&self, out: &mut String) {
        if let Some(t) = &self.text {
            out.push_str(" --comment");
            save_string(out, t);
        }
    }
}
