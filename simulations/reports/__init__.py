"""What the offline commands print and write: tables, progress, result files, HTML reports."""
