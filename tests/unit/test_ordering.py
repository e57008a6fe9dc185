from cers_groups.ordering import is_later


def test_ordering_greater_sequencer_is_later_whatever_the_event_time():
    newer = {"sequencer": "0062F0A1B2C3D4E5F7", "dropped_at": "2027-03-01T10:00:00.000Z"}
    older = {"sequencer": "0062F0A1B2C3D4E5F6", "dropped_at": "2027-03-01T10:00:00.001Z"}

    assert is_later(newer, older)
    assert not is_later(older, newer)


def test_ordering_sequencers_of_different_lengths_are_right_padded():
    # S3: pad the shorter value with zeros on the right, then compare.
    assert is_later({"sequencer": "0062F0A1B2C3D4E5F61"}, {"sequencer": "0062F0A1B2C3D4E5F6"})
    assert not is_later({"sequencer": "0062F0A1B2C3D4E5F6"}, {"sequencer": "0062F0A1B2C3D4E5F7"})


def test_ordering_same_or_missing_sequencer_falls_back_to_the_event_time():
    first = {"sequencer": "617f08299329d189", "dropped_at": "2027-03-01T10:00:00.000Z"}
    second = {"sequencer": "617f08299329d189", "dropped_at": "2027-03-01T10:00:02.000Z"}

    assert is_later(second, first)
    assert is_later({"dropped_at": "2027-03-02T00:00:00Z"}, {"dropped_at": "2027-03-01T00:00:00Z"})
    assert not is_later(first, dict(first))
