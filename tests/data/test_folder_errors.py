"""`folder:<path>` datasets name the folder when it holds no images."""

from __future__ import annotations

from pathlib import Path

import pytest

from advlab import data
from advlab.errors import DatasetMissingError


def test_empty_class_folders_are_refused_naming_the_folder(tmp_path: Path) -> None:
    (tmp_path / "cats").mkdir()
    with pytest.raises(DatasetMissingError, match=f"image folder {tmp_path} holds no images"):
        data.load(f"folder:{tmp_path}", "train")


def test_missing_folder_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissingError, match=str(tmp_path / "nope")):
        data.load(f"folder:{tmp_path / 'nope'}", "train")
