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

/// Malaysian postcodes are 5 digits.
pub fn malaysian_postcode(value: &str) -> Result<(), String> {
    if value.len() == 5 && value.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "postcode {value:?} is not a 5-digit Malaysian postcode"
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
        assert!(malaysian_postcode("5045").is_err());
        assert!(malaysian_postcode("50450A").is_err());
        assert_eq!(sst("NA"), Ok(()));
        assert_eq!(sst("W10-1808-32000142"), Ok(()));
        assert_eq!(sst("A01-2345-12345678;B01-2345-12345678"), Ok(()));
        assert!(sst("A;B;C").is_err());
        assert!(sst("A01 2345").is_err());
        assert_eq!(ttx("123-4567-12345678"), Ok(()));
        assert!(ttx("123-4567-123456789").is_err());
    }
}
