//! Field formats LHDN validates (SDK FAQ "Supplier/Buyer Information Field
//! Validation", TIN rules, release notes). Each returns `Err(reason)` with a
//! sentence fit for a finding.

/// LHDN's general TINs (SG Appendix "List of general TIN").
pub const GENERAL_TINS: [&str; 4] = [
    "EI00000000010",
    "EI00000000020",
    "EI00000000030",
    "EI00000000040",
];

const NON_INDIVIDUAL_PREFIXES: [&str; 13] = [
    "CS", "FA", "PT", "TA", "TC", "TN", "TR", "TP", "LE", "C", "D", "F", "J",
];

pub fn tin(value: &str) -> Result<(), String> {
    if GENERAL_TINS.contains(&value) {
        return Ok(());
    }
    if value.chars().count() > 14 {
        return Err(format!("TIN {value:?} is longer than 14 characters"));
    }
    if value.starts_with("EI") {
        return Err(format!(
            "TIN {value:?} is not one of LHDN's general TINs ({})",
            GENERAL_TINS.join(", ")
        ));
    }
    if let Some(digits) = value
        .strip_prefix("OG")
        .or_else(|| value.strip_prefix("SG"))
    {
        return Err(format!(
            "TIN {value:?} uses a retired prefix; individuals now use IG (IG{digits})"
        ));
    }
    if let Some(digits) = value.strip_prefix("IG") {
        return if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
            Ok(())
        } else {
            Err(format!("TIN {value:?}: IG must be followed by digits only"))
        };
    }
    let Some(prefix) = NON_INDIVIDUAL_PREFIXES
        .iter()
        .find(|p| value.starts_with(**p))
    else {
        return Err(format!(
            "TIN {value:?} has no known prefix (IG for individuals; C, CS, D, F, FA, PT, TA, TC, TN, TR, TP, J, LE otherwise)"
        ));
    };
    let digits = &value[prefix.len()..];
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "TIN {value:?}: {prefix} must be followed by digits only"
        ));
    }
    if digits.starts_with('0') {
        return Err(format!(
            "TIN {value:?} has a leading zero after {prefix}; LHDN drops it ({prefix}{})",
            digits.trim_start_matches('0')
        ));
    }
    if !digits.ends_with('0') {
        return Err(format!(
            "TIN {value:?} must end in 0 (LHDN appends a 0: {value}0)"
        ));
    }
    Ok(())
}

/// 8–20 characters, digits with an optional leading `+`; `NA` where not provided.
pub fn phone(value: &str) -> Result<(), String> {
    if value == "NA" {
        return Ok(());
    }
    let digits = value.strip_prefix('+').unwrap_or(value);
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "phone {value:?} may hold only digits and a leading +, no spaces or dashes"
        ));
    }
    let len = value.chars().count();
    if !(8..=20).contains(&len) {
        return Err(format!(
            "phone {value:?} has {len} characters; LHDN needs 8 to 20"
        ));
    }
    Ok(())
}

/// A single address, no spaces, `local@domain.tld`, at most 320 characters.
pub fn email(value: &str) -> Result<(), String> {
    let bad = || Err(format!("e-mail {value:?} is not a single valid address"));
    if value.chars().count() > 320
        || value.contains(char::is_whitespace)
        || value.contains([',', ';'])
    {
        return bad();
    }
    let Some((local, domain)) = value.split_once('@') else {
        return bad();
    };
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return bad();
    }
    Ok(())
}

/// A Malaysian postcode: LHDN takes at most 5 digits (SDK FAQ, field
/// validation). Malaysia's own postcodes have 5; see [`postcode_lost_zero`].
pub fn malaysian_postcode(value: &str) -> Result<(), String> {
    if (1..=5).contains(&value.len()) && value.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "postcode {value:?} is not a Malaysian postcode (at most 5 digits)"
        ))
    }
}

/// A Malaysian postcode LHDN accepts but Malaysia does not have: fewer than
/// 5 digits, most likely a leading zero lost to a number cell (01000 → 1000).
pub fn postcode_lost_zero(value: &str) -> bool {
    malaysian_postcode(value).is_ok() && value.len() < 5
}

/// The longest ID number of each ID type (SDK document tables: BRN 20;
/// NRIC, PASSPORT and ARMY 12 characters).
pub fn id_number(id_type: &str, value: &str) -> Result<(), String> {
    let max = match id_type {
        "NRIC" | "PASSPORT" | "ARMY" => 12,
        "BRN" => 20,
        _ => return Ok(()),
    };
    let len = value.chars().count();
    if len > max {
        return Err(format!(
            "{id_type} number {value:?} has {len} characters; LHDN allows {max}"
        ));
    }
    Ok(())
}

/// Incoterms: no special characters (SDK: "The input of special characters
/// is not allowed").
pub fn incoterms(value: &str) -> Result<(), String> {
    if value.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(format!(
            "Incoterms {value:?} holds special characters, which LHDN does not allow"
        ))
    }
}

/// Product tariff code: no special characters except `.` (SDK).
pub fn tariff_code(value: &str) -> Result<(), String> {
    if value.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
        Ok(())
    } else {
        Err(format!(
            "ProductTariffCode {value:?} holds special characters; LHDN allows only ."
        ))
    }
}

/// Details of tax exemption: special characters limited to `. - , ( )` (SDK).
pub fn exemption_details(value: &str) -> Result<(), String> {
    let bad: String = value
        .chars()
        .filter(|c| !(c.is_alphanumeric() || c.is_whitespace() || ".-,()".contains(*c)))
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "DetailsTaxExemption {value:?} holds {bad:?}; LHDN allows only the special characters . - , ( )"
        ))
    }
}

/// Customs form references: several separated by commas without spaces
/// (SDK; template row 3).
pub fn customs_refs(value: &str) -> Result<(), String> {
    if value.contains(char::is_whitespace) {
        Err(format!(
            "customs reference {value:?} holds a space; LHDN joins several with commas and no spaces"
        ))
    } else {
        Ok(())
    }
}

/// An original e-invoice's UUID: LHDN's 26 letters and digits, or `NA` when
/// the original predates e-invoicing (FAQ 45).
pub fn uuid(value: &str) -> Result<(), String> {
    if value == "NA" || (value.len() == 26 && value.chars().all(|c| c.is_ascii_alphanumeric())) {
        Ok(())
    } else {
        Err(format!(
            "UUID {value:?} is not LHDN's 26 letters and digits ({} characters)",
            value.chars().count()
        ))
    }
}

/// SST registration: `NA`, or at most two numbers separated by `;`, using
/// letters, digits and `-` only, at most 35 characters.
pub fn sst(value: &str) -> Result<(), String> {
    if value == "NA" {
        return Ok(());
    }
    if value.chars().count() > 35 {
        return Err(format!("SST number {value:?} is longer than 35 characters"));
    }
    let parts: Vec<&str> = value.split(';').collect();
    if parts.len() > 2 {
        return Err(format!("SST number {value:?} holds more than two numbers"));
    }
    if parts
        .iter()
        .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        return Err(format!(
            "SST number {value:?} may hold only letters, digits, - and one ; between two numbers"
        ));
    }
    Ok(())
}

/// Tourism tax registration: `NA`, or letters, digits and `-`, at most 17 characters.
pub fn ttx(value: &str) -> Result<(), String> {
    if value == "NA" {
        return Ok(());
    }
    if value.chars().count() > 17 || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!(
            "TTX number {value:?} may hold only letters, digits and -, at most 17 characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tins() {
        for good in [
            "EI00000000030",
            "C1234567890",
            "IG123456789",
            "CS10000000",
            "LE20",
            "J9990",
        ] {
            assert_eq!(tin(good), Ok(()), "{good}");
        }
        assert!(tin("C01234567890").unwrap_err().contains("leading zero"));
        assert!(tin("C123456789").unwrap_err().contains("end in 0"));
        assert!(tin("SG123456789").unwrap_err().contains("IG123456789"));
        assert!(tin("EI00000000050").unwrap_err().contains("general"));
        assert!(tin("X1234567890").unwrap_err().contains("prefix"));
        assert!(tin("C12345678901230").unwrap_err().contains("14"));
        assert!(tin("C12 3450").is_err());
    }

    #[test]
    fn phones() {
        assert_eq!(phone("+60312345678"), Ok(()));
        assert_eq!(phone("0312345678"), Ok(()));
        assert_eq!(phone("NA"), Ok(()));
        assert!(phone("+60 3 1234 5678").unwrap_err().contains("no spaces"));
        assert!(phone("+60-123456789").is_err());
        assert!(phone("1234567").unwrap_err().contains("8 to 20"));
        assert!(phone("123456789012345678901").is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(email("accounts@contoh.my"), Ok(()));
        assert!(email("accounts@contoh").is_err());
        assert!(email("a b@contoh.my").is_err());
        assert!(email("a@b.my,c@d.my").is_err());
        assert!(email("@contoh.my").is_err());
        assert!(email("accounts.contoh.my").is_err());
    }

    #[test]
    fn postcodes_sst_ttx() {
        assert_eq!(malaysian_postcode("50450"), Ok(()));
        assert_eq!(malaysian_postcode("1000"), Ok(()));
        assert!(postcode_lost_zero("1000"));
        assert!(!postcode_lost_zero("01000"));
        assert!(malaysian_postcode("504500").is_err());
        assert!(malaysian_postcode("50450A").is_err());
        assert!(malaysian_postcode("").is_err());
        assert_eq!(sst("NA"), Ok(()));
        assert_eq!(sst("W10-1808-32000142"), Ok(()));
        assert_eq!(sst("A01-2345-12345678;B01-2345-12345678"), Ok(()));
        assert!(sst("A;B;C").is_err());
        assert!(sst("A01 2345").is_err());
        assert_eq!(ttx("123-4567-12345678"), Ok(()));
        assert!(ttx("123-4567-123456789").is_err());
    }

    #[test]
    fn id_numbers_by_type() {
        assert_eq!(id_number("NRIC", "770625015324"), Ok(()));
        assert!(
            id_number("NRIC", "770625-01-5324")
                .unwrap_err()
                .contains("12")
        );
        assert!(id_number("PASSPORT", "A1234567890123").is_err());
        assert!(id_number("ARMY", "1234567890123").is_err());
        assert_eq!(id_number("BRN", "202001012345"), Ok(()));
        assert_eq!(id_number("BRN", "12345678901234567890"), Ok(()));
        assert!(id_number("BRN", "123456789012345678901").is_err());
    }

    #[test]
    fn special_characters() {
        assert_eq!(incoterms("EXW"), Ok(()));
        assert!(incoterms("C&F").is_err());
        assert_eq!(tariff_code("9617.00.1000"), Ok(()));
        assert!(tariff_code("9617-00").is_err());
        assert_eq!(
            exemption_details(
                "Exempted under Sales Tax (Persons Exempted) Order 2018, item 1.2 - A"
            ),
            Ok(())
        );
        assert!(exemption_details("Ref: ABC/12").unwrap_err().contains(":/"));
        assert_eq!(customs_refs("E12345678912,E23456789123"), Ok(()));
        assert!(customs_refs("E12345678912, E23456789123").is_err());
        assert_eq!(uuid("F9D425P6DS7D8IU9QWE0RTY1UI"), Ok(()));
        assert_eq!(uuid("NA"), Ok(()));
        assert!(
            uuid("F9D425P6DS7D8IU9QWE0RTY1U")
                .unwrap_err()
                .contains("25")
        );
        assert!(uuid("F9D425P6-S7D8IU9QWE0RTY1UI").is_err());
    }
}
