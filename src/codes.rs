//! LHDN's code tables, embedded from the MyInvois SDK's published lists.

use rustc_hash::FxHashSet;
use serde::Deserialize;
use std::sync::OnceLock;

#[derive(Debug, Clone, Deserialize)]
pub struct Code {
    #[serde(rename = "Code")]
    pub code: String,
    #[serde(rename = "Description")]
    pub description: String,
}

/// The tables, by the names `selfbill codes` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Classification,
    Msic,
    Unit,
    State,
    Country,
    Currency,
    Tax,
    Payment,
    Type,
}

impl Table {
    pub const ALL: [Table; 9] = [
        Table::Classification,
        Table::Msic,
        Table::Unit,
        Table::State,
        Table::Country,
        Table::Currency,
        Table::Tax,
        Table::Payment,
        Table::Type,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Classification => "classification",
            Table::Msic => "msic",
            Table::Unit => "unit",
            Table::State => "state",
            Table::Country => "country",
            Table::Currency => "currency",
            Table::Tax => "tax",
            Table::Payment => "payment",
            Table::Type => "type",
        }
    }

    /// What the table lists, in a few words.
    pub fn title(self) -> &'static str {
        match self {
            Table::Classification => {
                "classifications of goods and services (034: importation of goods)"
            }
            Table::Msic => "MSIC 2008 industry codes",
            Table::Unit => "units of measurement (UN/ECE Recommendation 20)",
            Table::State => "Malaysian states and federal territories",
            Table::Country => "countries (ISO 3166-1 alpha-3)",
            Table::Currency => "currencies (ISO 4217)",
            Table::Tax => "tax types (06: not applicable)",
            Table::Payment => "payment modes",
            Table::Type => "e-invoice types (11: self-billed invoice)",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    fn json(self) -> &'static str {
        match self {
            Table::Classification => include_str!("../assets/codes/classification-codes.json"),
            Table::Msic => include_str!("../assets/codes/msic-codes.json"),
            Table::Unit => include_str!("../assets/codes/unit-types.json"),
            Table::State => include_str!("../assets/codes/state-codes.json"),
            Table::Country => include_str!("../assets/codes/country-codes.json"),
            Table::Currency => include_str!("../assets/codes/currency-codes.json"),
            Table::Tax => include_str!("../assets/codes/tax-types.json"),
            Table::Payment => include_str!("../assets/codes/payment-modes.json"),
            Table::Type => include_str!("../assets/codes/einvoice-types.json"),
        }
    }

    fn index(self) -> usize {
        Table::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    /// Every entry of the table.
    pub fn entries(self) -> &'static [Code] {
        &loaded()[self.index()].0
    }

    pub fn contains(self, code: &str) -> bool {
        loaded()[self.index()].1.contains(code)
    }

    /// Entries whose code starts with, or whose description contains, every word of `query`.
    pub fn search(self, query: &str) -> Vec<&'static Code> {
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        self.entries()
            .iter()
            .filter(|entry| {
                let code = entry.code.to_lowercase();
                let description = entry.description.to_lowercase();
                words
                    .iter()
                    .all(|w| code.starts_with(w.as_str()) || description.contains(w.as_str()))
            })
            .collect()
    }
}

/// A table's entries, and its codes to look up (every code of an
/// invoice's cells is looked up: a fast hash, as codes are not chosen by an
/// adversary to collide).
type Loaded = (Vec<Code>, FxHashSet<String>);

fn loaded() -> &'static [Loaded] {
    static TABLES: OnceLock<Vec<Loaded>> = OnceLock::new();
    TABLES.get_or_init(|| {
        Table::ALL
            .iter()
            .map(|table| {
                let entries: Vec<Code> = serde_json::from_str(table.json())
                    .expect("embedded code tables are valid JSON (checked by tests)");
                let codes = entries.iter().map(|c| c.code.clone()).collect();
                (entries, codes)
            })
            .collect()
    })
}

/// ID types LHDN accepts for parties.
pub const ID_TYPES: [&str; 4] = ["NRIC", "BRN", "PASSPORT", "ARMY"];
/// Document versions LHDN accepts: 1.0 and 1.1, and for voluntary
/// disclosures SVDP 1.2 (unsigned) and SVDP 1.3 (signed) (SG §17.5; RN 8 Jul 2026).
pub const VERSIONS: [&str; 4] = ["1.0", "1.1", "SVDP 1.2", "SVDP 1.3"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_load_with_their_known_sizes() {
        assert_eq!(Table::Classification.entries().len(), 45);
        assert_eq!(Table::Msic.entries().len(), 1174);
        assert_eq!(Table::State.entries().len(), 17);
        assert_eq!(Table::Unit.entries().len(), 2162);
        assert!(Table::Classification.contains("034"));
        assert!(!Table::Classification.contains("34"));
        assert!(!Table::State.contains("00"));
        assert!(Table::Unit.contains("H87"));
        assert!(!Table::Unit.contains("PCE"));
        assert!(Table::Currency.contains("CNY"));
        assert!(Table::Tax.contains("06"));
        assert!(Table::Type.contains("11"));
    }

    #[test]
    fn searches_by_code_or_words() {
        let found = Table::Classification.search("importation goods");
        assert!(found.iter().any(|c| c.code == "034"), "{found:?}");
        assert_eq!(
            Table::State.search("14")[0].description.trim(),
            "Wilayah Persekutuan Kuala Lumpur"
        );
        assert!(Table::Unit.search("zzzz-none").is_empty());
    }
}
