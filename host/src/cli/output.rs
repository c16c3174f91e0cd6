//! Output: tables for people, one JSON object per line for scripts; a closed pipe ends quietly.

use anyhow::Result;

pub(crate) fn print_lines(lines: impl Iterator<Item = String>) {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
    let _ = out.flush();
}

/// Rows as one JSON object per line with `--json`, else as a table of `header` with one
/// line per row.
pub(crate) fn print_rows<T: serde::Serialize>(
    json: bool,
    rows: &[T],
    header: &[&str],
    line: impl Fn(&T) -> Vec<String>,
) -> Result<()> {
    if json {
        return print_json_lines(rows);
    }
    print_table(header, rows.iter().map(line).collect());
    Ok(())
}

/// Rows as one JSON object per line; a closed pipe ends the output quietly.
pub(crate) fn print_json_lines<T: serde::Serialize>(rows: &[T]) -> Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for row in rows {
        serde_json::to_writer(&mut out, row)?;
        out.write_all(b"\n")?;
    }
    out.flush().or_else(ignore_broken_pipe)?;
    Ok(())
}

pub(crate) fn ignore_broken_pipe(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e)
    }
}

pub fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    use std::io::Write;
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s.trim_end().to_string()
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let _ = writeln!(out, "{}", line(header.to_vec()));
    for row in &rows {
        if writeln!(out, "{}", line(row.iter().map(String::as_str).collect())).is_err() {
            return;
        }
    }
    let _ = out.flush();
}

/// Writes `bytes` to `out` through a temporary file beside it, renamed into place, so that a
/// failed write never leaves half a file behind.
pub(crate) fn write_file(out: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write into {}", dir.display()))?;
    file.write_all(bytes)?;
    file.persist(out)
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}
