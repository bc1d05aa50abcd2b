"""The compact unavailability banner: plain words first, the reason and fix behind Details (issue 12)."""

from __future__ import annotations

import pytest

from perfdeck.gui.views.base import UnavailableLabel
from perfdeck.model.series import Unavailable

pytestmark = pytest.mark.gui

NO_PMU = Unavailable("no hardware PMU: this is a virtual machine (the 'hypervisor' flag in /proc/cpuinfo)",
                     "give the guest a virtual PMU")


def test_plain_words_first_details_on_request(qtbot):
    label = UnavailableLabel()
    qtbot.addWidget(label)
    label.set_unavailable(NO_PMU, "IPC")
    shown = label.text()
    assert "<b>IPC</b>: Hardware counters are off in this virtual machine" in shown and "Details" in shown
    assert "hypervisor" not in shown and "give the guest" not in shown  # one line, no paragraph
    assert "give the guest a virtual PMU" in label.toolTip()
    assert label.full_text().startswith("IPC unavailable")
    label.linkActivated.emit("details")
    assert "hypervisor" in label.text() and "<b>Fix:</b> give the guest a virtual PMU" in label.text()
    label.linkActivated.emit("hide")
    assert "hypervisor" not in label.text()
    label.set_unavailable(None)
    assert label.isHidden()


def test_a_fact_is_a_quiet_note_and_nothing_is_said_twice(qtbot):
    label = UnavailableLabel()
    qtbot.addWidget(label)
    label.set_unavailable(Unavailable("no swap is configured"), "Swap")
    assert label.text() == "<b>Swap</b>: No swap is configured"  # no warning sign, no frame, no fix
    assert label.styleSheet() == ""
    label.set_unavailable(Unavailable("no RAPL powercap zones under /sys/class/powercap"), "Power (RAPL)")
    assert label.text().startswith("⚠ <b>Power readings (RAPL) are not available here</b>")
