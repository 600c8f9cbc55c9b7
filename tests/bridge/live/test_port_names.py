"""Port names: which listed ports are a running Sideman's own (`sideman ports` marks them)."""

from __future__ import annotations

import pytest

from sideman.bridge.live.port_names import is_sideman_port

OWN = ("Sideman In", "Sideman Out")


@pytest.mark.parametrize("name", ["Sideman:Sideman Out", "Sideman-01:Sideman Out", "Sideman-in:Sideman In",
                                  "Sideman-in-02:Sideman In", "Sideman:Sideman Out 128:0"])
def test_sideman_s_own_ports_under_jack_and_alsa_names(name):
    assert is_sideman_port(name, "Sideman", OWN)


@pytest.mark.parametrize("name", ["Sideman probe:Sideman Out", "Ardour:Sideman Out", "Sideman:Sideman Outside",
                                  "MySideman:Sideman In", "Sideman watch:Sideman In", "a2j:Sideman (capture): Sideman Out"])
def test_other_ports_are_not_marked(name):
    assert not is_sideman_port(name, "Sideman", OWN)
