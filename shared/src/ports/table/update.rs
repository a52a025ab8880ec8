//! Changes to one item, checked the way DynamoDB checks them and applied the way it applies
//! them (the embedded adapter calls `apply`; the DynamoDB adapter builds an expression).

use super::{Attr, AttributeValue, Cond, Item, Key, PK, SK, StoreError};

/// Changes to one item: set, set-if-absent, add to numbers and string sets, remove; all
/// under an optional condition. An update on a missing item creates it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    pub set: Vec<(String, AttributeValue)>,
    pub set_if_absent: Vec<(String, AttributeValue)>,
    pub add_number: Vec<(String, i64)>,
    pub add_to_set: Vec<(String, Vec<String>)>,
    pub remove: Vec<String>,
    pub condition: Option<Cond>,
}

impl Update {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(mut self, attr: &str, value: impl Into<Attr>) -> Self {
        self.set.push((attr.into(), value.into().0));
        self
    }

    pub fn set_if_absent(mut self, attr: &str, value: impl Into<Attr>) -> Self {
        self.set_if_absent.push((attr.into(), value.into().0));
        self
    }

    pub fn add(mut self, attr: &str, by: i64) -> Self {
        self.add_number.push((attr.into(), by));
        self
    }

    pub fn add_to_set<S: Into<String>>(
        mut self,
        attr: &str,
        values: impl IntoIterator<Item = S>,
    ) -> Self {
        self.add_to_set
            .push((attr.into(), values.into_iter().map(Into::into).collect()));
        self
    }

    pub fn remove(mut self, attr: &str) -> Self {
        self.remove.push(attr.into());
        self
    }

    pub fn when(mut self, cond: Cond) -> Self {
        self.condition = Some(match self.condition.take() {
            Some(existing) => existing.and(cond),
            None => cond,
        });
        self
    }

    /// Refuses what DynamoDB refuses, so that the embedded store cannot accept an update
    /// that would fail in production.
    pub fn validate(&self) -> Result<(), StoreError> {
        let mut seen = std::collections::HashSet::new();
        let names = self
            .set
            .iter()
            .map(|(a, _)| a)
            .chain(self.set_if_absent.iter().map(|(a, _)| a))
            .chain(self.add_number.iter().map(|(a, _)| a))
            .chain(self.add_to_set.iter().map(|(a, _)| a))
            .chain(self.remove.iter());
        let mut any = false;
        for name in names {
            any = true;
            if name == PK || name == SK {
                return Err(StoreError::Invalid(format!(
                    "an update cannot change the key attribute {name}"
                )));
            }
            if name.is_empty() {
                return Err(StoreError::Invalid("empty attribute name".into()));
            }
            if !seen.insert(name.as_str()) {
                return Err(StoreError::Invalid(format!(
                    "attribute {name} appears twice in one update"
                )));
            }
        }
        if !any {
            return Err(StoreError::Invalid(
                "an update must change something".into(),
            ));
        }
        if let Some((name, _)) = self.add_to_set.iter().find(|(_, v)| v.is_empty()) {
            return Err(StoreError::Invalid(format!(
                "adding an empty set to {name}"
            )));
        }
        Ok(())
    }

    /// Applies the changes to an item (a missing item starts empty). The embedded adapter
    /// uses this; the DynamoDB adapter turns the same update into an UpdateExpression.
    pub fn apply(&self, key: &Key, current: Option<Item>) -> Result<Item, StoreError> {
        let mut item = current.unwrap_or_default();
        item.insert(PK.into(), AttributeValue::S(key.pk.clone()));
        item.insert(SK.into(), AttributeValue::S(key.sk.clone()));
        for (name, value) in &self.set {
            item.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.set_if_absent {
            item.entry(name.clone()).or_insert_with(|| value.clone());
        }
        for (name, by) in &self.add_number {
            let next = match item.get(name) {
                None => *by as i128,
                Some(AttributeValue::N(n)) => {
                    n.parse::<i128>()
                        .map_err(|_| StoreError::Invalid(format!("{name} is not a whole number")))?
                        + *by as i128
                }
                Some(_) => {
                    return Err(StoreError::Invalid(format!(
                        "cannot add a number to {name}: it is not a number"
                    )));
                }
            };
            item.insert(name.clone(), AttributeValue::N(next.to_string()));
        }
        for (name, values) in &self.add_to_set {
            match item.get_mut(name) {
                None => {
                    let mut set = values.clone();
                    set.sort();
                    set.dedup();
                    item.insert(name.clone(), AttributeValue::Ss(set));
                }
                Some(AttributeValue::Ss(set)) => {
                    for v in values {
                        if !set.contains(v) {
                            set.push(v.clone());
                        }
                    }
                    set.sort();
                }
                Some(_) => {
                    return Err(StoreError::Invalid(format!(
                        "cannot add to {name}: it is not a string set"
                    )));
                }
            }
        }
        for name in &self.remove {
            item.remove(name);
        }
        Ok(item)
    }
}
