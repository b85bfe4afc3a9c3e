"""README.md's settings table is the one made from the fields of engine.config.Settings."""

from __future__ import annotations

from dataclasses import fields

from engine.config import Settings, specs
from scripts.settings_table import BEGIN, END, README, table, with_table


def test_readme_holds_the_generated_settings_table():
    readme = README.read_text("utf-8")
    assert readme == with_table(readme), (
        "README.md's settings table differs from the fields of engine.config.Settings: "
        "run `python -m scripts.settings_table --write` and commit README.md")
    assert readme.count(BEGIN) == readme.count(END) == 1


def test_every_field_of_every_area_is_a_row_with_a_meaning():
    rows = table().splitlines()[2:]
    areas = {f.name for f in fields(Settings)}
    assert len(rows) == sum(len(fields(getattr(Settings(), area))) for area in areas) == len(list(specs()))
    assert all(spec.doc for spec in specs())
    assert "`CAREFLOW_COMPLAINTS_DECISION_DAYS_SIMPLE` |  | an integer | `15` |" in table()
    assert "`CAREFLOW_DATABASE_URL` | `DATABASE_URL` |" in table()


def test_a_secret_default_is_never_printed():
    assert "k" * 40 not in table()
    assert all("unset" in row for row in table().splitlines() if "SECRET_KEY` |" in row or "DATA_KEY` |" in row)
