"""Cell formatting of the CLI's tables."""

from advlab.report.tables import format_cell


def test_format_cell_is_readable_at_every_magnitude() -> None:
    assert format_cell(14920.3) == "14920" and format_cell(1234.0) == "1234"
    assert format_cell(0.16504) == "0.165" and format_cell(999.94) == "999.9"
    assert format_cell(2.5e-5) == "2.500e-05" and format_cell(3.2e12) == "3.200e+12"
    assert format_cell(None) == "—" and format_cell(True) == "yes" and format_cell(7) == "7"
    assert format_cell(float("nan")) == "nan" and format_cell(0.0) == "0"
