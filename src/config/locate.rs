//! Positions inside a config's text: byte offsets to 1-based line/column, and
//! dotted key paths ("model.layers[2].units") to the span that holds them.
//! Kept apart from validation so that checks made long after loading (through
//! `Config::error_at`) can point at the same places the validator would.

use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A byte range in the config text.
pub type Span = Range<usize>;

/// 1-based line and column (in characters) of byte `offset` in `text`.
/// Offsets past the end, or inside a multi-byte character, are tolerated
/// (clamped / counted up to the character), because positions come from
/// error reports and must never make error reporting itself fail.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let bytes = text.as_bytes();
    let before = &bytes[..offset.min(bytes.len())];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    // Count characters, not bytes: every UTF-8 character has exactly one
    // non-continuation byte.
    let column = 1 + before[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count();
    (line, column)
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A table key.
    Key(String),
    /// A 0-based index into an array (written 1-based in paths).
    Index(usize),
}

/// Splits a dotted key path such as `model.layers[2].units` into segments.
/// Indices are written 1-based (as everywhere in nn-doctor's messages);
/// `None` for malformed paths (empty parts, `[0]`, unclosed brackets).
pub fn parse_path(path: &str) -> Option<Vec<Segment>> {
    let mut segments = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if name.is_empty() {
            return None;
        }
        segments.push(Segment::Key(name.to_string()));
        while !rest.is_empty() {
            let close = rest.find(']')?;
            let index: usize = rest.get(1..close)?.parse().ok()?;
            segments.push(Segment::Index(index.checked_sub(1)?));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return None;
            }
        }
    }
    Some(segments)
}

/// Where a key path points in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The key is present: the span of its value (a table's value is its
    /// `[header]`).
    Value(Span),
    /// The key is absent but the table that would hold it is present: the
    /// span of that table's header (or first key, for implicit tables).
    Parent(Span),
    /// Neither the key nor its table is in the text (or the text no longer
    /// parses).
    Nowhere,
}

/// Finds `path` (dotted, 1-based indices) in the TOML `text`.
pub fn locate(text: &str, path: &str) -> Target {
    let (Ok(doc), Some(segments)) = (DeTable::parse(text), parse_path(path)) else {
        return Target::Nowhere;
    };
    locate_in(doc.get_ref(), &segments)
}

/// Walks `segments` down from the document root.
pub(crate) fn locate_in(root: &DeTable<'_>, segments: &[Segment]) -> Target {
    let Some((last, parents)) = segments.split_last() else {
        return Target::Nowhere;
    };
    let mut node: Node<'_, '_> = Node::Root(root);
    for segment in parents {
        match node.child(segment) {
            Some(child) => node = Node::Value(child),
            None => return Target::Nowhere,
        }
    }
    match (node.child(last), node.span()) {
        (Some(value), _) => Target::Value(value.span()),
        (None, Some(parent)) if node.is_container() => Target::Parent(parent),
        _ => Target::Nowhere,
    }
}

/// A position during a path walk: the root table has no span of its own.
enum Node<'a, 'i> {
    Root(&'a DeTable<'i>),
    Value(&'a Spanned<DeValue<'i>>),
}

impl<'a, 'i> Node<'a, 'i> {
    fn child(&self, segment: &Segment) -> Option<&'a Spanned<DeValue<'i>>> {
        match (self, segment) {
            (Node::Root(table), Segment::Key(key)) => table.get(key.as_str()),
            (Node::Value(value), Segment::Key(key)) => {
                value.get_ref().as_table()?.get(key.as_str())
            }
            (Node::Value(value), Segment::Index(index)) => value.get_ref().as_array()?.get(*index),
            (Node::Root(_), Segment::Index(_)) => None,
        }
    }

    fn span(&self) -> Option<Span> {
        match self {
            Node::Root(_) => None,
            Node::Value(value) => Some(value.span()),
        }
    }

    fn is_container(&self) -> bool {
        match self {
            Node::Root(_) => true,
            Node::Value(value) => value.get_ref().is_table() || value.get_ref().is_array(),
        }
    }
}

/// Best-effort dotted key path of the `key = value` on 1-based `line`, for
/// TOML syntax errors, which come without a parse tree. Reads the text
/// line by line, so it only answers for bare keys and simple headers and
/// says `None` rather than guess on anything else.
pub fn key_at_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let before = lines.get(..line.checked_sub(1)?)?;
    let current = lines.get(line - 1)?;
    if current.trim_start().starts_with('[') {
        return None;
    }
    let key = bare_path(current.split_once('=')?.0)?;
    let Some((table, is_array)) = before.iter().rev().find_map(|l| header(l)) else {
        return Some(key);
    };
    if !is_array {
        return Some(format!("{table}.{key}"));
    }
    let index = before
        .iter()
        .filter(|l| header(l).is_some_and(|(t, a)| a && t == table))
        .count();
    Some(format!("{table}[{index}].{key}"))
}

/// The path of a `[table]` or `[[array]]` header line, and whether it is an
/// array of tables.
fn header(line: &str) -> Option<(String, bool)> {
    let line = line.trim_start();
    let (inner, is_array) = match line.strip_prefix("[[") {
        Some(rest) => (rest.split_once("]]")?.0, true),
        None => (line.strip_prefix('[')?.split_once(']')?.0, false),
    };
    Some((bare_path(inner)?, is_array))
}

/// A dotted path of bare keys (`a.b`, `a . b`), normalised; `None` for
/// anything quoted or otherwise unusual.
fn bare_path(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.split('.').map(str::trim).collect();
    let bare = |part: &&str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    parts.iter().all(bare).then(|| parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_in_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 4), (1, 5));
        assert_eq!(line_col(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_col(text, 10), (2, 4));
        assert_eq!(line_col(text, 9999), (3, 1));
        // Inside a multi-byte character: no panic.
        assert_eq!(line_col(text, 8), (2, 3));
    }

    #[test]
    fn parse_path_handles_indices() {
        assert_eq!(
            parse_path("model.layers[2].units"),
            Some(vec![
                Segment::Key("model".into()),
                Segment::Key("layers".into()),
                Segment::Index(1),
                Segment::Key("units".into()),
            ])
        );
        assert_eq!(parse_path("seed"), Some(vec![Segment::Key("seed".into())]));
        for bad in ["", "a..b", "a[0]", "a[x]", "a[1", "a[1]b", "[1]"] {
            assert_eq!(parse_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn locate_finds_values_parents_and_nothing() {
        let text = "seed = 1\n[train]\nbatch_size = 4\n[[model.layers]]\nunits = 3\n";
        let at = |t: Target| match t {
            Target::Value(s) | Target::Parent(s) => line_col(text, s.start),
            Target::Nowhere => (0, 0),
        };
        assert!(matches!(locate(text, "train.batch_size"), Target::Value(_)));
        assert_eq!(at(locate(text, "train.batch_size")), (3, 14));
        assert!(matches!(locate(text, "train.steps"), Target::Parent(_)));
        assert_eq!(at(locate(text, "train.steps")), (2, 1));
        assert_eq!(at(locate(text, "model.layers[1].units")), (5, 9));
        assert_eq!(at(locate(text, "model.layers[1].init")), (4, 1));
        assert_eq!(locate(text, "model.layers[2].units"), Target::Nowhere);
        assert_eq!(locate(text, "monitor.every"), Target::Nowhere);
        assert_eq!(locate(text, "name"), Target::Nowhere);
        assert_eq!(locate("[[[", "seed"), Target::Nowhere);
    }

    #[test]
    fn key_at_line_reads_keys_and_headers() {
        let text = "seed = 1\n[train]\nbatch_size = \n[[model.layers]]\n\n[[model.layers]]\nunits = 8 9\n\"q\" = 1\n";
        assert_eq!(key_at_line(text, 1).as_deref(), Some("seed"));
        assert_eq!(key_at_line(text, 2), None);
        assert_eq!(key_at_line(text, 3).as_deref(), Some("train.batch_size"));
        assert_eq!(
            key_at_line(text, 7).as_deref(),
            Some("model.layers[2].units")
        );
        assert_eq!(key_at_line(text, 8), None);
        assert_eq!(key_at_line(text, 0), None);
        assert_eq!(key_at_line(text, 99), None);
    }
}
