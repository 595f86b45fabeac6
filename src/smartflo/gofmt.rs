//! Reads Go's `fmt` rendering of maps and slices back into JSON values.
//!
//! Smartflo fills GET and form templates with `%v`, so nested variables can arrive as
//! `map[circle:Delhi operator:Airtel]` or `[map[id:0507297260061 name:Priya Sharma]]`
//! (payload-notes "Transport"). The rendering is ambiguous — values are unquoted and may
//! contain spaces — so a map value runs until the next ` key:` or the closing bracket.

use serde_json::{Map, Value};

/// Parses one rendered value. Returns `None` when the text is not a Go map or slice.
pub fn parse(text: &str) -> Option<Value> {
    let text = text.trim();
    if !(text.starts_with("map[") || text.starts_with('[')) {
        return None;
    }
    let mut parser = Parser {
        src: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    let value = parser.value(Stop::End)?;
    parser.skip_spaces();
    (parser.pos == parser.src.len()).then_some(value)
}

/// What ends a scalar: the end of input, a `]`, or (inside a map) the next ` key:`.
#[derive(Clone, Copy, PartialEq)]
enum Stop {
    End,
    ListItem,
    MapValue,
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 32;

impl Parser<'_> {
    fn rest(&self) -> &[u8] {
        &self.src[self.pos..]
    }

    fn skip_spaces(&mut self) {
        while self.rest().first() == Some(&b' ') {
            self.pos += 1;
        }
    }

    fn value(&mut self, stop: Stop) -> Option<Value> {
        if self.rest().starts_with(b"map[") {
            self.pos += 4;
            self.map()
        } else if self.rest().first() == Some(&b'[') {
            self.pos += 1;
            self.list()
        } else {
            Some(Value::String(self.scalar(stop)))
        }
    }

    fn map(&mut self) -> Option<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let mut out = Map::new();
        loop {
            self.skip_spaces();
            match self.rest().first() {
                None => return None,
                Some(b']') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => {}
            }
            let key = self.key()?;
            let value = self.value(Stop::MapValue)?;
            out.insert(key, value);
        }
        self.depth -= 1;
        Some(Value::Object(out))
    }

    fn list(&mut self) -> Option<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let mut out = Vec::new();
        loop {
            self.skip_spaces();
            match self.rest().first() {
                None => return None,
                Some(b']') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => out.push(self.value(Stop::ListItem)?),
            }
        }
        self.depth -= 1;
        Some(Value::Array(out))
    }

    /// A map key: everything up to the first `:`.
    fn key(&mut self) -> Option<String> {
        let start = self.pos;
        while let Some(&b) = self.rest().first() {
            match b {
                b':' => {
                    let key = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
                    self.pos += 1;
                    return Some(key);
                }
                b']' | b'[' => return None,
                _ => self.pos += 1,
            }
        }
        None
    }

    fn scalar(&mut self, stop: Stop) -> String {
        let start = self.pos;
        while let Some(&b) = self.rest().first() {
            let ends = match (b, stop) {
                (b']', Stop::ListItem | Stop::MapValue) => true,
                (b' ', Stop::ListItem) => true,
                (b' ', Stop::MapValue) => self.next_is_key(),
                _ => false,
            };
            if ends {
                break;
            }
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.src[start..self.pos])
            .trim()
            .to_string()
    }

    /// At a space inside a map value: does ` identifier:` follow?
    fn next_is_key(&self) -> bool {
        let rest = &self.rest()[1..];
        let ident_len = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        ident_len > 0 && rest.get(ident_len) == Some(&b':')
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_flat_map() {
        assert_eq!(
            parse("map[circle:Delhi operator:Airtel]"),
            Some(json!({"circle":"Delhi","operator":"Airtel"}))
        );
    }

    #[test]
    fn reads_a_list_of_maps_with_spaces_in_values() {
        assert_eq!(
            parse(
                "[map[id:0507297260061 name:Priya Sharma number:+919811100001] map[id:0507 name:Arjun]]"
            ),
            Some(json!([
                {"id":"0507297260061","name":"Priya Sharma","number":"+919811100001"},
                {"id":"0507","name":"Arjun"}
            ]))
        );
    }

    #[test]
    fn values_may_contain_colons_and_nested_maps() {
        assert_eq!(
            parse("map[at:12:30:05 agent:map[name:Meera]]"),
            Some(json!({"at":"12:30:05","agent":{"name":"Meera"}}))
        );
    }

    #[test]
    fn empty_renderings_are_empty_values() {
        assert_eq!(parse("map[]"), Some(json!({})));
        assert_eq!(parse("[]"), Some(json!([])));
        assert_eq!(parse("[a b c]"), Some(json!(["a", "b", "c"])));
    }

    #[test]
    fn broken_renderings_are_not_values() {
        assert_eq!(parse("Priya"), None);
        assert_eq!(parse("map[name:Priya"), None);
        assert_eq!(parse("[map[name:Priya]] trailing"), None);
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(parse(&deep), None);
    }
}
