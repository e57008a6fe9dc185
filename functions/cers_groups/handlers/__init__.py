"""Lambda entry points. Each parses its event, calls one pipeline step, and reports failures."""
