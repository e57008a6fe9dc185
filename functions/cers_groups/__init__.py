"""cers-groups: validate SIS roster exports and keep CERS student groups up to date."""
