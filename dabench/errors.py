"""Exceptions that reach the user as one-line messages (exit code 2 for usage errors)."""


class UsageError(Exception):
    """A mistake in what the user asked for: printed as one line, exit code 2, no traceback."""


class DataError(Exception):
    """Missing or corrupt data: the message names the file, where dabench looked and the command that fixes it."""


class WriteError(Exception):
    """A place the user chose cannot be written (read-only, full, a file in the way): one line naming the place
    and the fix, exit code 1, no traceback."""
