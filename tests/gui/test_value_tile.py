"""ValueTile: a number is never cut (a narrow tile draws it smaller first), a detail too long is
elided with the whole text as tooltip, and a new font is measured again."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QFont, QFontMetrics

from perfdeck.gui.views.common import ValueTile

pytestmark = pytest.mark.gui


def _tile(qtbot, width: int) -> ValueTile:
    tile = ValueTile("Network")
    qtbot.addWidget(tile)
    tile.resize(width, tile.height())
    tile.show()
    qtbot.waitExposed(tile)
    return tile


def _point_size(tile: ValueTile) -> float:
    return tile.value.font().pointSizeF() / tile.caption.font().pointSizeF()


def test_a_wide_tile_shows_the_value_large_and_whole(qtbot):
    tile = _tile(qtbot, 300)
    tile.set_value("↓ 12.3 MiB/s", "↑ 1.0 KiB/s")
    assert tile.value.text() == "↓ 12.3 MiB/s"
    assert tile.value.toolTip() == ""
    assert _point_size(tile) == pytest.approx(1.5)
    assert tile.value.font().bold()


def test_a_narrow_tile_draws_the_number_smaller_before_cutting_it(qtbot):
    text = "↓ 888.8 MiB/s"
    caption = tile_caption_font(qtbot)
    big, middle = _scaled(caption, 1.5), _scaled(caption, 1.25)
    # Room for the 1.25x text but not the 1.5x one.
    room = (QFontMetrics(big).horizontalAdvance(text) + QFontMetrics(middle).horizontalAdvance(text)) // 2
    tile = _tile(qtbot, room + 20)  # the value label gets the tile's width less 20 px
    assert tile.value.width() < QFontMetrics(big).horizontalAdvance(text)
    tile.set_value(text)
    assert tile.value.text() == text  # whole
    assert _point_size(tile) == pytest.approx(1.25)
    tile.set_value("1 %")  # short again: back to the large font
    assert _point_size(tile) == pytest.approx(1.5)


def test_a_value_too_wide_even_at_1x_is_elided_with_a_tooltip(qtbot):
    tile = _tile(qtbot, 90)
    text = "888 888 888.8 MiB/s"
    tile.set_value(text)
    assert _point_size(tile) == pytest.approx(1.0)
    assert tile.value.text() != text and tile.value.text().endswith("…")
    assert tile.value.toolTip() == text


def test_a_long_detail_is_elided_with_the_whole_text_as_tooltip(qtbot):
    tile = _tile(qtbot, 120)
    detail = "888.8 MiB of 888.8 GiB and more words than fit"
    tile.set_value("1 %", detail)
    assert tile.detail.text().endswith("…")
    assert tile.detail.toolTip() == detail
    tile.set_value("1 %", "short")
    assert tile.detail.text() == "short" and tile.detail.toolTip() == ""


def test_a_new_font_is_measured_again(qtbot):
    tile = _tile(qtbot, 260)
    text = "↓ 88.8 MiB/s"
    tile.set_value(text)
    assert _point_size(tile) == pytest.approx(1.5)
    bigger = QFont(tile.font())
    bigger.setPointSizeF(bigger.pointSizeF() * 2.2)
    tile.setFont(bigger)  # the value no longer fits at 1.5x of the new caption font
    tile.set_value(text)
    assert tile.caption.font().pointSizeF() == pytest.approx(bigger.pointSizeF())
    # Scaled from the new font, not the old one; 1.5x of it no longer fits.
    assert min(abs(_point_size(tile) - scale) for scale in (1.25, 1.0)) < 0.01
    assert tile.value.text() == text or tile.value.toolTip() == text


def tile_caption_font(qtbot) -> QFont:
    tile = ValueTile("probe")
    qtbot.addWidget(tile)
    return QFont(tile.caption.font())


def _scaled(font: QFont, scale: float) -> QFont:
    scaled = QFont(font)
    scaled.setPointSizeF(font.pointSizeF() * scale)
    scaled.setBold(True)
    return scaled
