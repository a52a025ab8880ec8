//! DynamoDB expressions from the port's conditions and updates: placeholders for every name
//! and value, expired items seen as absent, and what moto and DynamoDB refuse avoided.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue as Dav;

use crate::ports::table::{AttributeValue, Cond, PK, TTL, Update};

type DItem = HashMap<String, Dav>;

#[derive(Default)]
pub(super) struct Expr {
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, Dav>,
}

impl Expr {
    pub(super) fn name(&mut self, attr: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, a)| a.as_str() == attr) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attr.to_string());
        placeholder
    }

    pub(super) fn value(&mut self, v: Dav) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    pub(super) fn cond(&mut self, c: &Cond) -> String {
        let mut cmp = |a: &str, op: &str, v: &AttributeValue| {
            let n = self.name(a);
            let v = self.value(Dav::from(v.clone()));
            format!("{n} {op} {v}")
        };
        match c {
            Cond::Exists(a) => format!("attribute_exists({})", self.name(a)),
            Cond::NotExists(a) => format!("attribute_not_exists({})", self.name(a)),
            Cond::Eq(a, v) => cmp(a, "=", v),
            Cond::Lt(a, v) => self.ordered(a, "<", v),
            Cond::Le(a, v) => self.ordered(a, "<=", v),
            Cond::Gt(a, v) => self.ordered(a, ">", v),
            Cond::Ge(a, v) => self.ordered(a, ">=", v),
            Cond::Contains(a, s) => {
                let n = self.name(a);
                let v = self.value(Dav::S(s.clone()));
                format!("contains({n}, {v})")
            }
            Cond::And(all) if all.is_empty() => self.always(),
            Cond::Or(any) if any.is_empty() => format!("NOT ({})", self.always()),
            Cond::And(all) => self.join(all, " AND "),
            Cond::Or(any) => self.join(any, " OR "),
            Cond::Not(inner) => format!("NOT ({})", self.cond(inner)),
        }
    }

    /// An ordering comparison, true only between values of one type as in DynamoDB. The
    /// type check says so explicitly, for emulators (moto) that raise on `N < S` instead.
    pub(super) fn ordered(&mut self, a: &str, op: &str, v: &AttributeValue) -> String {
        let kind = match v {
            AttributeValue::S(_) => "S",
            AttributeValue::N(_) => "N",
            AttributeValue::B(_) => "B",
            // Not orderable: DynamoDB refuses the request whatever the item holds.
            _ => "",
        };
        let n = self.name(a);
        let value = self.value(Dav::from(v.clone()));
        if kind.is_empty() {
            return format!("{n} {op} {value}");
        }
        let t = self.value(Dav::S(kind.into()));
        // Unparenthesised: every caller wraps a condition (DynamoDB refuses `((…))`).
        format!("attribute_type({n}, {t}) AND {n} {op} {value}")
    }

    pub(super) fn always(&mut self) -> String {
        format!(
            "attribute_exists({0}) OR attribute_not_exists({0})",
            self.name(PK)
        )
    }

    pub(super) fn join(&mut self, parts: &[Cond], sep: &str) -> String {
        parts
            .iter()
            .map(|p| format!("({})", self.cond(p)))
            .collect::<Vec<_>>()
            .join(sep)
    }

    /// The item is absent or has not expired.
    pub(super) fn live(&mut self, now: i64) -> String {
        let t = self.name(TTL);
        let v = self.value(Dav::N(now.to_string()));
        format!("(attribute_not_exists({t}) OR {t} >= {v})")
    }

    /// The condition as seen through expiry: an expired item counts as no item.
    pub(super) fn visible(&mut self, c: &Cond, now: i64) -> String {
        let inner = self.cond(c);
        let live = self.live(now);
        if c.holds(None) {
            format!("(NOT {live}) OR ({inner})")
        } else {
            format!("{live} AND ({inner})")
        }
    }

    pub(super) fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub(super) fn values(&self) -> Option<DItem> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// A condition expression with its placeholders, each `None` when there is no condition.
type Condition = (
    Option<String>,
    Option<HashMap<String, String>>,
    Option<DItem>,
);

pub(super) fn condition(cond: Option<&Cond>, now: i64) -> Condition {
    match cond {
        None => (None, None, None),
        Some(c) => {
            let mut e = Expr::default();
            let expression = e.visible(c, now);
            (Some(expression), e.names(), e.values())
        }
    }
}

/// An UpdateExpression and its condition, ready to send.
pub(super) struct Prepared {
    pub(super) update: String,
    pub(super) condition: String,
    pub(super) expr: Expr,
}

pub(super) fn prepare_update(update: &Update, now: i64) -> Prepared {
    let mut e = Expr::default();
    let mut sets = Vec::new();
    for (a, v) in &update.set {
        let n = e.name(a);
        let v = e.value(Dav::from(v.clone()));
        sets.push(format!("{n} = {v}"));
    }
    for (a, v) in &update.set_if_absent {
        let n = e.name(a);
        let v = e.value(Dav::from(v.clone()));
        sets.push(format!("{n} = if_not_exists({n}, {v})"));
    }
    let mut adds = Vec::new();
    for (a, by) in &update.add_number {
        let n = e.name(a);
        let v = e.value(Dav::N(by.to_string()));
        adds.push(format!("{n} {v}"));
    }
    for (a, values) in &update.add_to_set {
        let n = e.name(a);
        let v = e.value(Dav::Ss(values.clone()));
        adds.push(format!("{n} {v}"));
    }
    let removes: Vec<String> = update.remove.iter().map(|a| e.name(a)).collect();
    let mut clauses = Vec::new();
    if !sets.is_empty() {
        clauses.push(format!("SET {}", sets.join(", ")));
    }
    if !adds.is_empty() {
        clauses.push(format!("ADD {}", adds.join(", ")));
    }
    if !removes.is_empty() {
        clauses.push(format!("REMOVE {}", removes.join(", ")));
    }
    // The update must not merge into an expired item: it fails here and is retried after the
    // expired item is removed.
    let live = e.live(now);
    let condition = match &update.condition {
        Some(c) => {
            let inner = e.cond(c);
            format!("{live} AND ({inner})")
        }
        None => live,
    };
    Prepared {
        update: clauses.join(" "),
        condition,
        expr: e,
    }
}
