//! "Did you mean ...?" for misspelt config keys and values: the closest
//! allowed name by edit distance, when it is close enough to be the one
//! meant (a typo, not another word).

/// Optimal-string-alignment distance: insertions, deletions, substitutions
/// and swaps of two adjacent characters each cost 1 ("bacth" -> "batch" is
/// one edit, as a person counts it).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The candidate closest to `word`, if within a third of its length (at
/// least 1, so "sed" finds "seed"; "xyz" finds nothing). Ties go to the
/// first candidate, i.e. the order the docs list them. Case is ignored.
pub fn did_you_mean<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let lower = word.to_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// An unknown-name message: `{what}; expected one of{expected}`, or with a
/// near miss `{what}; did you mean "x"? (expected one of{expected})`.
pub fn unknown(what: &str, word: &str, candidates: &[&str], expected: &str) -> String {
    match did_you_mean(word, candidates) {
        Some(c) => format!("{what}; did you mean \"{c}\"? (expected one of{expected})"),
        None => format!("{what}; expected one of{expected}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Distances worked by hand (Levenshtein, plus adjacent swaps = 1).
    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("learning_rat", "learning_rate"), 1);
        assert_eq!(edit_distance("bacth_size", "batch_size"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        let keys = ["loss", "learning_rate", "batch_size", "steps"];
        assert_eq!(did_you_mean("learning_rat", &keys), Some("learning_rate"));
        assert_eq!(did_you_mean("Batch_Size", &keys), Some("batch_size"));
        assert_eq!(did_you_mean("step", &keys), Some("steps"));
        assert_eq!(did_you_mean("optimiser_kind", &keys), None);
        assert_eq!(did_you_mean("x", &keys), None);
        assert_eq!(
            unknown("unknown key", "lr", &keys, ": a"),
            "unknown key; expected one of: a"
        );
    }
}
