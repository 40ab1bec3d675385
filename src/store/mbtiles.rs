//! MBTiles files (map backgrounds): a SQLite database of tiles, read only.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

/// An MBTiles file opened read-only.
pub struct MbTiles {
    conn: Connection,
    path: PathBuf,
}

impl MbTiles {
    pub fn open(path: &Path) -> Result<MbTiles, String> {
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map(|conn| MbTiles {
                conn,
                path: path.to_owned(),
            })
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The encoded tile at XYZ (z, x, y), if the file has one (its rows count from the south).
    pub fn tile(&self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, String> {
        let row = (1u32 << z) - 1 - y;
        self.conn
            .query_row(
                "SELECT tile_data FROM tiles WHERE zoom_level = ?1 AND tile_column = ?2 AND tile_row = ?3",
                params![z, x, row],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}
