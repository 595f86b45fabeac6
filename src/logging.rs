//! How log fields are written: every value with its control characters escaped.
//!
//! Much of what Ringback logs came from outside — a login name, a Telegram user's name,
//! a payload's call id, an error text from a remote server. tracing-subscriber's default
//! field formatter writes `%`-formatted values as they are (it only defuses ANSI escape
//! sequences), so a login name of `x\nERROR forged line` wrote a second, forged log line.
//! This formatter writes fields exactly as the default does (`message` bare, the rest
//! `name=value`, in the order recorded) but escapes every control character (`\n`, `\r`,
//! `\t`, `\u{1b}` …) and the Unicode line and paragraph separators in every value, the
//! message included, so one event is always one line. Doing it here rather than at each
//! call site means a value nobody thought of as hostile is covered too.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// The field formatter of every Ringback log line (see the module comment).
#[derive(Debug, Default, Clone, Copy)]
pub struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = Visitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Visitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // tracing-log's own metadata fields, which the default formatter leaves out too.
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        let name = field.name().trim_start_matches("r#");
        self.result = if name == "message" {
            write!(self.writer, "{separator}{}", Escaped(value))
        } else {
            write!(self.writer, "{separator}{name}={}", Escaped(value))
        };
    }
}

/// A value's `Debug` text with control characters written as escapes.
struct Escaped<'a>(&'a dyn fmt::Debug);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(EscapingWriter(f), "{:?}", self.0)
    }
}

struct EscapingWriter<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl Write for EscapingWriter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Runs of ordinary characters go out in one write: a character at a time made this
        // formatter a measurable part of every webhook's log line.
        let mut run = 0;
        for (i, c) in s.char_indices() {
            let escape = c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
            if !escape {
                continue;
            }
            self.0.write_str(&s[run..i])?;
            run = i + c.len_utf8();
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
        }
        self.0.write_str(&s[run..])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Everything logged while `log` runs, through a subscriber using [`EscapedFields`].
    fn logged(log: impl FnOnce()) -> String {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_target(false)
            .without_time()
            .fmt_fields(EscapedFields)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes = buffer.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_value_with_newlines_cannot_forge_a_second_line() {
        let name = "asha\n2026-05-28T06:00:00Z ERROR forged\r\u{1b}[31m\u{2028}";
        let out = logged(|| {
            tracing::warn!(name = %name, also = ?name, "dashboard login refused for {name}");
        });
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(
            out.contains(r"name=asha\n2026-05-28T06:00:00Z ERROR forged\r\u{1b}[31m\u{2028}"),
            "{out}"
        );
        assert!(out.contains(r#"also="asha\n2026"#), "{out}");
        assert!(out.contains("dashboard login refused for asha\\n"), "{out}");
    }

    #[test]
    fn ordinary_fields_read_as_before() {
        let out = logged(|| tracing::info!(event_id = "01K", effect = "opened", n = 3, "webhook"));
        assert_eq!(
            out.trim(),
            r#"INFO webhook event_id="01K" effect="opened" n=3"#
        );
    }
}
