"""The run report: pandas tables (Markdown, CSV) and the self-contained HTML page."""
