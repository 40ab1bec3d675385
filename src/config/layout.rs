//! Screen layouts (TOML under `layouts/`): a grid of `columns` x `rows`, optionally with cells
//! that span several grid squares.
//!
//! ```toml
//! name = "1 large + 12 small"
//! columns = 4
//! rows = 4
//! [[cell]]            # cells not listed are 1x1 tiles, filled left to right, top to bottom
//! column = 0
//! row = 0
//! column_span = 2
//! row_span = 2
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, line_of};

/// One tile of a layout, in grid squares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutCell {
    pub column: u32,
    pub row: u32,
    #[serde(default = "one")]
    pub column_span: u32,
    #[serde(default = "one")]
    pub row_span: u32,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayout {
    name: String,
    columns: u32,
    rows: u32,
    #[serde(default)]
    cell: Vec<toml::Spanned<LayoutCell>>,
}

/// A validated layout: its tiles in reading order, covering the grid without overlap.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub name: String,
    pub columns: u32,
    pub rows: u32,
    pub cells: Vec<LayoutCell>,
}

impl Layout {
    /// A plain grid.
    pub fn grid(columns: u32, rows: u32) -> Layout {
        let cells = (0..rows)
            .flat_map(|row| {
                (0..columns).map(move |column| LayoutCell {
                    column,
                    row,
                    column_span: 1,
                    row_span: 1,
                })
            })
            .collect();
        Layout {
            name: format!("{columns}x{rows}"),
            columns,
            rows,
            cells,
        }
    }

    pub fn load(path: &Path) -> Result<Layout, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Layout, ConfigError> {
        let invalid = |line: usize, field: &str, message: String| ConfigError::Invalid {
            path: PathBuf::from(path),
            line,
            field: field.to_owned(),
            message,
        };
        let raw: RawLayout = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            invalid(line, "layout", e.message().trim().to_owned())
        })?;
        if !(1..=16).contains(&raw.columns) {
            return Err(invalid(
                1,
                "columns",
                format!("{} is outside 1..16", raw.columns),
            ));
        }
        if !(1..=16).contains(&raw.rows) {
            return Err(invalid(1, "rows", format!("{} is outside 1..16", raw.rows)));
        }
        let (cols, rows) = (raw.columns, raw.rows);
        let mut owner = vec![false; (cols * rows) as usize];
        let mut placed = Vec::new();
        for spanned in &raw.cell {
            let line = line_of(text, spanned.span().start);
            let c = *spanned.get_ref();
            if c.column_span == 0 || c.row_span == 0 {
                return Err(invalid(line, "cell", "spans must be at least 1".into()));
            }
            if c.column + c.column_span > cols || c.row + c.row_span > rows {
                return Err(invalid(
                    line,
                    "cell",
                    format!("reaches outside the {cols}x{rows} grid"),
                ));
            }
            for r in c.row..c.row + c.row_span {
                for k in c.column..c.column + c.column_span {
                    let i = (r * cols + k) as usize;
                    if owner[i] {
                        return Err(invalid(
                            line,
                            "cell",
                            format!("overlaps another cell at column {k}, row {r}"),
                        ));
                    }
                    owner[i] = true;
                }
            }
            placed.push(c);
        }
        // Fill the squares no cell claimed with 1x1 tiles.
        for r in 0..rows {
            for k in 0..cols {
                if !owner[(r * cols + k) as usize] {
                    placed.push(LayoutCell {
                        column: k,
                        row: r,
                        column_span: 1,
                        row_span: 1,
                    });
                }
            }
        }
        placed.sort_by_key(|c| (c.row, c.column));
        Ok(Layout {
            name: raw.name,
            columns: cols,
            rows,
            cells: placed,
        })
    }

    /// Tile rectangles as fractions of the screen: (x, y, w, h) in 0..1.
    pub fn tile_fractions(&self) -> impl Iterator<Item = [f32; 4]> + '_ {
        let (cw, rh) = (1.0 / self.columns as f32, 1.0 / self.rows as f32);
        self.cells.iter().map(move |c| {
            [
                c.column as f32 * cw,
                c.row as f32 * rh,
                c.column_span as f32 * cw,
                c.row_span as f32 * rh,
            ]
        })
    }
}

/// The layouts shipped in `layouts/`, compiled in so the demo runs with no files around it.
pub fn builtin_layouts() -> Vec<Layout> {
    const FILES: &[(&str, &str)] = &[
        ("1x1.toml", include_str!("../../layouts/1x1.toml")),
        ("2x2.toml", include_str!("../../layouts/2x2.toml")),
        ("3x3.toml", include_str!("../../layouts/3x3.toml")),
        ("4x4.toml", include_str!("../../layouts/4x4.toml")),
        ("6x6.toml", include_str!("../../layouts/6x6.toml")),
        ("8x8.toml", include_str!("../../layouts/8x8.toml")),
        ("12x8.toml", include_str!("../../layouts/12x8.toml")),
        ("1+12.toml", include_str!("../../layouts/1+12.toml")),
        ("2+8.toml", include_str!("../../layouts/2+8.toml")),
    ];
    FILES
        .iter()
        .filter_map(|(name, text)| Layout::parse(&Path::new("layouts").join(name), text).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_layouts_all_parse_and_cover_their_grid() {
        let all = builtin_layouts();
        assert_eq!(all.len(), 9, "every shipped layout parses");
        for l in &all {
            let area: u32 = l.cells.iter().map(|c| c.column_span * c.row_span).sum();
            assert_eq!(area, l.columns * l.rows, "{}", l.name);
        }
        let wall = all
            .iter()
            .find(|l| l.columns == 12 && l.rows == 8)
            .expect("12x8");
        assert_eq!(wall.cells.len(), 96);
        let big = all
            .iter()
            .find(|l| l.name.starts_with("1 large"))
            .expect("1+12");
        assert_eq!(big.cells.len(), 13);
    }

    #[test]
    fn overlapping_cells_are_refused_with_their_line() {
        let text = "name = \"x\"\ncolumns = 2\nrows = 2\n[[cell]]\ncolumn = 0\nrow = 0\ncolumn_span = 2\n[[cell]]\ncolumn = 1\nrow = 0\n";
        let e = Layout::parse(Path::new("l.toml"), text)
            .expect_err("overlap")
            .to_string();
        assert!(e.starts_with("l.toml:8: cell: overlaps"), "{e}");
    }
}
