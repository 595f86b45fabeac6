//! The number normaliser: any text with any default country either fails cleanly or gives
//! an E.164 number that normalises to itself again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringback::domain::phone::{CountryCode, PhoneNumber};

const COUNTRIES: [&str; 5] = ["91", "1", "44", "971", "65"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let country = CountryCode::parse(COUNTRIES[usize::from(selector) % COUNTRIES.len()]).unwrap();
    let _ = CountryCode::parse(text);
    let Ok(number) = PhoneNumber::parse(text, country) else {
        return;
    };
    let e164 = number.as_str();
    assert!(
        e164.starts_with('+') && e164.len() > 1,
        "{e164:?} from {text:?}"
    );
    assert!(
        e164[1..].bytes().all(|b| b.is_ascii_digit()),
        "{e164:?} from {text:?}"
    );
    let again = PhoneNumber::parse(e164, country).expect("an E.164 number parses again");
    assert_eq!(
        again.as_str(),
        e164,
        "normalising is idempotent for {text:?}"
    );
    let _ = (number.national(), number.masked());
});
