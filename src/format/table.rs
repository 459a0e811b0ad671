//! Plain-text tables with aligned columns, for batch and non-terminal output.

use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A table: headers, per-column alignment, rows of cells.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    pub(crate) headers: Vec<String>,
    pub(crate) align: Vec<Align>,
    pub(crate) rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new<S: Into<String>>(headers: impl IntoIterator<Item = (S, Align)>) -> Self {
        let (headers, align) = headers.into_iter().map(|(h, a)| (h.into(), a)).unzip();
        Table {
            headers,
            align,
            rows: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// Column widths: the widest cell (in chars) of each column.
    fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                let n = cell.chars().count();
                if i >= w.len() {
                    w.push(n);
                } else if n > w[i] {
                    w[i] = n;
                }
            }
        }
        w
    }

    /// Write the table; columns separated by two spaces, no trailing blanks.
    pub(crate) fn render(&self, w: &mut dyn Write) -> io::Result<()> {
        let widths = self.widths();
        let mut line = String::new();
        let all = std::iter::once(&self.headers).chain(self.rows.iter());
        for row in all {
            line.clear();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = widths[i].saturating_sub(cell.chars().count());
                let right = self.align.get(i).copied().unwrap_or(Align::Left) == Align::Right;
                if right {
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    if i + 1 < row.len() {
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                }
            }
            writeln!(w, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let mut t = Table::new([
            ("IRQ", Align::Left),
            ("RATE", Align::Right),
            ("NAME", Align::Left),
        ]);
        t.push(vec!["LOC".into(), "1234.0".into(), "Local timer".into()]);
        t.push(vec!["24".into(), "5.0".into(), "eth0".into()]);
        let mut out = Vec::new();
        t.render(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "IRQ    RATE  NAME\nLOC  1234.0  Local timer\n24      5.0  eth0\n"
        );
    }
}
