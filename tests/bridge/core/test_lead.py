"""LeadInput: held keys and the pedal to one lead line."""

from __future__ import annotations

import mido
import pytest

from sideman.bridge.core.lead import LeadInput
from sideman.bridge.midi import ALL_NOTES_OFF, ALL_SOUND_OFF, PERCUSSION_CHANNEL, SUSTAIN


@pytest.mark.parametrize("control", [ALL_NOTES_OFF, ALL_SOUND_OFF])
def test_all_notes_off_forgets_held_keys_and_the_pedal(control):
    lead = LeadInput(48, 84)
    lead.handle(mido.Message("control_change", control=SUSTAIN, value=127))
    lead.handle(mido.Message("note_on", note=72, velocity=90))  # its note-off is lost
    lead.handle(mido.Message("note_on", note=67, velocity=90))
    assert lead.pitch == 72
    assert lead.handle(mido.Message("control_change", control=control, value=0)) is None
    assert lead.pitch is None
    onset = lead.handle(mido.Message("note_on", note=60, velocity=90))
    assert onset is not None and onset.pitch == 60
    lead.handle(mido.Message("note_off", note=60))
    assert lead.pitch is None  # the pedal is up: the release ends the lead at once


def test_all_notes_off_on_another_channel_changes_nothing():
    lead = LeadInput(48, 84, channel=0)
    lead.handle(mido.Message("note_on", note=72, velocity=90))
    lead.handle(mido.Message("control_change", channel=5, control=ALL_NOTES_OFF, value=0))
    assert lead.pitch == 72


def test_listening_to_any_channel_never_takes_the_drums_for_the_tune():
    lead = LeadInput(48, 84)
    assert lead.handle(mido.Message("note_on", channel=PERCUSSION_CHANNEL, note=81, velocity=120)) is None
    assert lead.pitch is None
    assert lead.handle(mido.Message("note_on", channel=0, note=72, velocity=90)).pitch == 72
    lead.handle(mido.Message("note_on", channel=PERCUSSION_CHANNEL, note=84, velocity=120))  # a crash above the tune
    assert lead.pitch == 72


def test_the_drum_channel_is_the_lead_when_asked_for():
    lead = LeadInput(48, 84, channel=PERCUSSION_CHANNEL)
    assert lead.handle(mido.Message("note_on", channel=PERCUSSION_CHANNEL, note=60, velocity=90)).pitch == 60
