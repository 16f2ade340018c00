//! Byte offsets to 1-based lines and character columns, in time independent of line length.

use rustpython_parser::text_size::TextRange;

use super::super::ast::*;

/// Byte offsets of line starts, to turn the parser's byte offsets into 1-based line and
/// character column: a binary search for the line, and, for the column, a count of characters
/// kept every [`CHECKPOINT`] bytes, so that each position costs the same however long its line
/// (a 100,000-element literal on one line has 100,000 positions).
pub(super) struct LineIndex<'a> {
    source: &'a str,
    starts: Vec<usize>,
    /// `chars[k]`: how many characters start before byte `k * CHECKPOINT`.
    chars: Vec<usize>,
}

const CHECKPOINT: usize = 64;

/// Whether `byte` starts a character (is not a UTF-8 continuation byte).
fn starts_char(byte: &u8) -> bool {
    (*byte as i8) >= -0x40
}

impl<'a> LineIndex<'a> {
    pub(super) fn new(source: &'a str) -> LineIndex<'a> {
        let starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let mut chars = vec![0];
        let mut count = 0;
        for chunk in source.as_bytes().chunks(CHECKPOINT) {
            count += chunk.iter().filter(|b| starts_char(b)).count();
            chars.push(count);
        }
        LineIndex {
            source,
            starts,
            chars,
        }
    }

    /// How many characters start before byte `offset` (a byte inside a character counts it).
    fn chars_before(&self, offset: usize) -> usize {
        let offset = offset.min(self.source.len());
        let block = offset / CHECKPOINT;
        let rest = &self.source.as_bytes()[block * CHECKPOINT..offset];
        self.chars[block] + rest.iter().filter(|b| starts_char(b)).count()
    }

    fn position(&self, offset: usize) -> (u32, u32) {
        let line = self.starts.partition_point(|&start| start <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let col = self.chars_before(offset) - self.chars_before(start);
        (to_u32(line), to_u32(col + 1))
    }

    /// The text of 1-based `line`, without its line ending; empty past the end.
    pub(super) fn line_text(&self, line: u32) -> &'a str {
        let Some(&start) = (line as usize)
            .checked_sub(1)
            .and_then(|i| self.starts.get(i))
        else {
            return "";
        };
        let end = self
            .starts
            .get(line as usize)
            .copied()
            .unwrap_or(self.source.len());
        let text = &self.source[start..end];
        let text = text.strip_suffix('\n').unwrap_or(text);
        text.strip_suffix('\r').unwrap_or(text)
    }

    pub(super) fn span(&self, start: usize, end: usize) -> Span {
        let (line, col) = self.position(start);
        let (end_line, end_col) = self.position(end);
        Span {
            line,
            col,
            end_line,
            end_col,
        }
    }

    pub(super) fn range(&self, range: TextRange) -> Span {
        self.span(usize::from(range.start()), usize::from(range.end()))
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_counts_characters_from_one() {
        let lines = LineIndex::new("ab\r\nçd\n\nx");
        assert_eq!(lines.position(0), (1, 1));
        assert_eq!(lines.position(1), (1, 2));
        assert_eq!(lines.position(4), (2, 1));
        // `ç` is two bytes but one column.
        assert_eq!(lines.position(6), (2, 2));
        assert_eq!(lines.position(8), (3, 1));
        assert_eq!(lines.position(9), (4, 1));
        assert_eq!(lines.position(10), (4, 2));
    }

    #[test]
    fn offsets_inside_a_character_or_past_the_end_do_not_panic() {
        let lines = LineIndex::new("çç");
        assert_eq!(lines.position(1), (1, 2));
        assert_eq!(lines.position(100), (1, 3));
    }
}
