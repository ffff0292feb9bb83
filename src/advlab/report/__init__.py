"""The HTML report of reproduced experiments (see `advlab.report.html.write_report`)."""

from advlab.report.html import collect_sections, write_report

__all__ = ["collect_sections", "write_report"]
