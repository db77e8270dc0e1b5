//! The appliance TOML as written: private structs that serde fills, each
//! value with its byte span ([`toml::Spanned`]) so that validation can say
//! where a bad value is.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAppliance {
    #[serde(default)]
    pub(super) interface: Vec<Spanned<RawInterface>>,
    #[serde(default)]
    pub(super) route: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    pub(super) policy: Vec<Spanned<RawPolicy>>,
    pub(super) firewall: Option<Spanned<RawFirewall>>,
    pub(super) dataplane: Option<RawDataplane>,
    pub(super) conntrack: Option<RawConntrack>,
    pub(super) control: Option<RawControl>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawControl {
    pub(super) socket: Option<Spanned<String>>,
    pub(super) metrics: Option<Spanned<String>>,
    pub(super) log: Option<Spanned<String>>,
    pub(super) log_format: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInterface {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) address: Vec<Spanned<String>>,
    pub(super) mtu: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub(super) to: Spanned<String>,
    pub(super) via: Option<Spanned<String>>,
    pub(super) dev: Option<Spanned<String>>,
    pub(super) table: Option<Spanned<TableRef>>,
    pub(super) metric: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) priority: Spanned<i64>,
    pub(super) fwmark: Option<Spanned<NumOrText>>,
    pub(super) from: Option<Spanned<String>>,
    pub(super) to: Option<Spanned<String>>,
    pub(super) iif: Option<Spanned<String>>,
    pub(super) oif: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) not: bool,
    pub(super) table: Spanned<TableRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFirewall {
    pub(super) rules: Spanned<String>,
    pub(super) rules6: Option<Spanned<String>>,
    pub(super) sets: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDataplane {
    pub(super) workers: Option<Spanned<i64>>,
    pub(super) conntrack_max: Option<Spanned<i64>>,
    pub(super) cores: Option<Spanned<Vec<Spanned<i64>>>>,
    pub(super) busy_poll: Option<Spanned<bool>>,
}

/// `[conntrack]` as written: its keys and values in file order. The keys
/// are checked in validation, not by serde, so that `max` and a key with
/// the `nf_conntrack_` prefix get their own messages, and the list of
/// known keys in the message of an unknown one is the model's.
pub(super) struct RawConntrack(pub(super) Vec<(Spanned<String>, Spanned<SysctlValue>)>);

impl<'de> Deserialize<'de> for RawConntrack {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawConntrack;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of conntrack settings")
            }
            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawConntrack, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(RawConntrack(entries))
            }
        }
        d.deserialize_map(V)
    }
}

/// A sysctl's value as written: an integer, or for a 0/1 switch also
/// `true`/`false`.
#[derive(Clone, Copy)]
pub(super) enum SysctlValue {
    Int(i64),
    Bool(bool),
}

impl<'de> Deserialize<'de> for SysctlValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SysctlValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a boolean")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SysctlValue, E> {
                Ok(SysctlValue::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SysctlValue, E> {
                i64::try_from(v)
                    .map(SysctlValue::Int)
                    .map_err(|_| E::custom(format!("integer {v} is out of range")))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<SysctlValue, E> {
                Ok(SysctlValue::Bool(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// A routing table as written: a number or a name.
pub(super) type TableRef = NumOrText;

/// A TOML value that may be an integer or a string (`table`, `fwmark`).
pub(super) enum NumOrText {
    Num(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for NumOrText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NumOrText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumOrText, E> {
                Ok(NumOrText::Num(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumOrText, E> {
                i64::try_from(v)
                    .map(NumOrText::Num)
                    .map_err(|_| E::custom(format!("integer {v} is out of range")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NumOrText, E> {
                Ok(NumOrText::Text(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<NumOrText, E> {
                Ok(NumOrText::Text(v))
            }
        }
        d.deserialize_any(V)
    }
}
